import numpy as np
import pytest

from index.embedders import DEFAULT_MODEL, HashEmbedder, SentenceTransformerEmbedder, load_embedder, model_id


def test_hash_embedder_is_deterministic_and_normalised():
    e = HashEmbedder(64)
    a = e.embed_batch(["child protection online", "water and sanitation"])
    assert a.shape == (2, 64) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1)
    assert np.array_equal(e.embed("child protection online"), a[0])
    assert e.embed("protection online child") @ a[0] > 0.99  # bag of words


def test_model_ids():
    assert model_id("all-MiniLM-L6-v2") == DEFAULT_MODEL
    assert model_id("hash") == "hash:256" == load_embedder("hash").name
    assert model_id("org/other-model") == "org/other-model"


@pytest.fixture(scope="module")
def real():
    return SentenceTransformerEmbedder()


def test_real_model_embeds_by_meaning(real):
    assert real.dim == 384 and real.max_tokens == 254 and real.name == DEFAULT_MODEL
    v = real.embed_batch(["Keeping children safe on the internet", "Protecting minors online", "Rice harvest statistics"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert np.allclose(real.embed("Protecting minors online"), v[1], atol=1e-5)
    assert real.embed_batch([]).shape == (0, 384)


def test_real_model_counts_word_pieces_without_special_tokens(real):
    texts = ["hello world", "unbelievably", "Trained almost 748,000 health professionals."]
    counts = real.count_tokens(texts)
    assert counts[0] == 2 and counts[1] > 1  # a rare word costs several word pieces
    assert counts == [len(real._model.tokenizer.tokenize(t)) for t in texts]
