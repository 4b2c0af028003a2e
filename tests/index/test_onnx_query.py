"""The ONNX Runtime query encoder gives the torch model's vectors."""

import numpy as np
import pytest

from index.embedders import SentenceTransformerEmbedder

QUERIES = ["what was done on online child protection", "how many health professionals were trained in newborn care",
           "x", "UNICEF", "A long question about the rights of children affected by migration and how data informed "
           "the government's action plan, with several clauses, numbers like 748,000 and punctuation; does it hold?"]


def test_onnx_vectors_match_torch(tmp_path):
    torch_side = SentenceTransformerEmbedder(query_encoder="torch")
    onnx_side = SentenceTransformerEmbedder(query_encoder="onnx", cache_dir=tmp_path)
    assert onnx_side._query is not None and list(tmp_path.glob("query-encoder-*.onnx"))
    reference = torch_side.embed_batch(QUERIES)
    got = np.stack([onnx_side.embed(q) for q in QUERIES])
    assert got.shape == reference.shape and got.dtype == np.float32
    cosines = (got * reference).sum(axis=1)
    assert cosines.min() > 0.999, cosines  # the bar: 1e-3
    again = SentenceTransformerEmbedder(query_encoder="onnx", cache_dir=tmp_path)  # reuses the exported file
    assert np.allclose(again.embed(QUERIES[0]), got[0], atol=1e-6)
    assert again._st is None and (again.dim, again.max_tokens) == (torch_side.dim, torch_side.max_tokens)
    options = again._query._session.get_session_options()  # threads stop spinning when a run ends
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    short = again.embed_short(QUERIES)  # one padded batch: same vectors as one at a time
    assert (short * got).sum(axis=1).min() > 0.99999


def test_concurrent_queries_share_batches_and_keep_their_vectors(tmp_path):
    import threading

    encoder = SentenceTransformerEmbedder(query_encoder="onnx", cache_dir=tmp_path, query_batch=8)._query
    queries = [f"{q} ({n})" for n in range(6) for q in QUERIES]
    alone = {q: encoder.encode_batch([q])[0] for q in queries}
    runs_before = encoder.encode.runs
    got, start = {}, threading.Barrier(len(queries))

    def ask(q):
        start.wait()
        got[q] = encoder.encode(q)

    threads = [threading.Thread(target=ask, args=(q,)) for q in queries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(queries)
    for q in queries:  # padding in a shared batch changes nothing
        assert float(got[q] @ alone[q]) > 0.99999, q
    assert encoder.encode.runs - runs_before < len(queries)


def test_a_failing_batch_raises_in_every_caller():
    import threading

    from index.onnx_query import Batcher

    gate = threading.Event()

    def broken(texts):
        gate.wait(5)
        raise RuntimeError("encoder down")

    batcher, errors = Batcher(broken), []

    def ask():
        try:
            batcher("q")
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert errors == ["encoder down"] * 4
    gate.set()
    with pytest.raises(RuntimeError):  # and the next call leads a batch of its own
        batcher("again")
