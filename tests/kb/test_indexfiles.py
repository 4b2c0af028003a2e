"""Index files carry a digest each; a write hashes only the files it wrote."""

import json

import numpy as np

from index import BM25Index, SearchEngine
from index.ann import HnswIndex
from kb import indexfiles


def _engine(n=500, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    x = rng.normal(size=(n, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    vectors = HnswIndex(16)
    vectors.add(ids, x)
    lexical = BM25Index()
    lexical.build(ids, [f"passage {i} about water and schools" for i in ids])
    return SearchEngine(lambda: None, vectors, lexical), ids


def test_a_removal_hashes_only_the_files_it_wrote(tmp_path, monkeypatch):
    engine, ids = _engine()
    folder = tmp_path / "index"
    indexfiles.save_index(folder, engine, 1, "m")
    loaded = indexfiles.load_index(folder, SearchEngine(lambda: None, None, None), 1, "m")
    assert loaded is not None and len(loaded.vectors) == len(ids)
    hashed = []
    real = indexfiles._sha256
    monkeypatch.setattr(indexfiles, "_sha256", lambda path, digest=None: hashed.append(path.name) or real(path, digest))
    writer = loaded.copy()
    writer.vectors.remove(ids[:5])
    writer.lexical.rebuild(ids[5:], None, lambda new: [])
    indexfiles.save_index(folder, writer, 2, "m")
    assert hashed and not {"graph.faiss", "vectors.npy"} & set(hashed)  # linked, known: not read again
    assert {"alive.npy", "data.npy"} <= set(hashed)  # written by this save: read
    again = indexfiles.load_index(folder, SearchEngine(lambda: None, None, None), 2, "m")
    assert again is not None and sorted(again.vectors.ids()) == sorted(ids[5:])
    assert json.loads((folder / "manifest.json").read_text())["files"] == indexfiles.digests(folder, "hnsw")


def test_a_changed_file_is_hashed_again_and_refused(tmp_path):
    engine, _ = _engine()
    folder = tmp_path / "index"
    indexfiles.save_index(folder, engine, 1, "m")
    keys = folder / "vectors.hnsw" / "keys.npy"
    data = bytearray(keys.read_bytes())
    data[-3] ^= 0xFF  # same size, one byte: a new mtime makes it another file to the digest cache
    keys.write_bytes(bytes(data))
    assert indexfiles.load_index(folder, SearchEngine(lambda: None, None, None), 1, "m") is None


def test_a_manifest_with_one_checksum_from_before_still_loads(tmp_path):
    engine, ids = _engine()
    folder = tmp_path / "index"
    indexfiles.save_index(folder, engine, 1, "m")
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["files"]
    manifest["checksum"] = indexfiles.checksum(folder, "hnsw")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    loaded = indexfiles.load_index(folder, SearchEngine(lambda: None, None, None), 1, "m")
    assert loaded is not None and len(loaded.vectors) == len(ids)
    manifest["checksum"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert indexfiles.load_index(folder, SearchEngine(lambda: None, None, None), 1, "m") is None
