"""The ONNX Runtime query encoder gives the torch model's vectors."""

import numpy as np

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
