"""Vector indexes: nearest neighbours by inner product over unit vectors (= cosine).

`VectorIndex` is the seam a server-backed engine (pgvector, ...) would implement. `FaissIndex`
is exact search (`IndexFlatIP`) behind an id map: a query's cost grows linearly with the
passages (bench/scale.py times it at each size), so beyond `ann_threshold` the knowledge base
switches to `ann.HnswIndex`. `new_vector_index` and `load_vector_index` pick the class by kind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["VectorIndex", "FaissIndex", "KINDS", "new_vector_index", "load_vector_index", "convert"]

KINDS = ("flat", "hnsw")


@runtime_checkable
class VectorIndex(Protocol):
    dim: int
    kind: str

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> int: ...

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, k), best first; missing slots have id -1."""

    def ids(self) -> np.ndarray: ...

    def vectors(self, ids: np.ndarray) -> np.ndarray: ...

    def __len__(self) -> int: ...

    def save(self, path: Path) -> None: ...

    def copy(self) -> "VectorIndex":
        """An independent copy: a writer changes it while searches keep using this one."""


def _as_ids(ids) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


class FaissIndex:
    """Exact inner-product search over int64-keyed vectors, persisted with `faiss.write_index`."""

    kind = "flat"

    def __init__(self, dim: int, _index=None, mapped: bool = False):
        import faiss

        self._faiss = faiss
        self.dim = dim
        self._index = _index if _index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._mapped = mapped  # the vectors are the file's pages, shared by every process reading it

    @classmethod
    def load(cls, path: Path, mmap: bool = os.name == "posix") -> "FaissIndex":
        """The saved index; with `mmap` its vectors stay in the file, memory-mapped (read-only),
        so every server process on a machine shares one copy in the page cache. A file
        replaced by a later save keeps its old pages for whoever still maps them (POSIX; on
        Windows a mapped file could not be replaced, so it is read into memory there)."""
        import faiss

        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if mmap else 0)
        return cls(index.d, index, mapped=mmap)

    def _owned(self):
        """An in-memory copy of the index: a memory-mapped one cannot change (FAISS aborts the
        process on a write to a mapped vector, and `clone_index` keeps the mapping)."""
        return self._faiss.deserialize_index(self._faiss.serialize_index(self._index))

    def copy(self) -> "FaissIndex":
        return FaissIndex(self.dim, self._owned() if self._mapped else self._faiss.clone_index(self._index))

    def _writable(self) -> None:
        if self._mapped:
            self._index, self._mapped = self._owned(), False

    def add(self, ids, vectors: np.ndarray) -> None:
        ids = _as_ids(ids)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        if len(ids):
            self._writable()
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids) -> int:
        ids = _as_ids(ids)
        if not len(ids):
            return 0
        self._writable()
        return int(self._index.remove_ids(self._faiss.IDSelectorBatch(ids)))

    def search(self, queries: np.ndarray, k: int, allowed=None):
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        k = max(1, int(k))
        params = None
        if allowed is not None:
            allowed = _as_ids(allowed)
            if not len(allowed):
                n = len(queries)
                return np.full((n, k), -np.inf, np.float32), np.full((n, k), -1, np.int64)
            params = self._faiss.SearchParameters(sel=self._faiss.IDSelectorBatch(allowed))  # type: ignore[call-arg]
        if len(queries) > 4:
            return self._index.search(queries, k, params=params)
        # A few queries: one thread. FAISS's OpenMP threads spin after a search and fight the
        # query encoder's threads on a small machine: on 2 cores, encode + search took about
        # twice as long with the default threads as with one. (The setting is per calling thread.)
        before = self._faiss.omp_get_max_threads()
        self._faiss.omp_set_num_threads(1)
        try:
            return self._index.search(queries, k, params=params)
        finally:
            self._faiss.omp_set_num_threads(before)

    def vectors(self, ids) -> np.ndarray:
        """The stored vectors of `ids` (all must be present), one row each."""
        ids = _as_ids(ids)
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        return self._index.reconstruct_batch(ids)

    def ids(self) -> np.ndarray:
        return self._faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def save(self, path: Path) -> None:
        """Write beside the target, fsync, then rename: a reader never sees half a file."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        try:
            self._faiss.write_index(self._index, str(tmp))
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        except BaseException:  # a full disk: no half-written file left behind
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)


def new_vector_index(kind: str, dim: int) -> VectorIndex:
    """An empty index of `kind` (flat: exact; hnsw: approximate, for large collections)."""
    if kind == "flat":
        return FaissIndex(dim)
    if kind == "hnsw":
        from .ann import HnswIndex

        return HnswIndex(dim)
    raise ValueError(f"unknown vector index {kind!r}; known: {', '.join(KINDS)}")


def load_vector_index(path: Path) -> VectorIndex:
    """A flat index is one FAISS file; an HNSW index is a folder."""
    path = Path(path)
    if path.is_dir():
        from .ann import HnswIndex

        return HnswIndex.load(path)
    return FaissIndex.load(path)


def convert(index: VectorIndex, kind: str) -> VectorIndex:
    """The same vectors under the same ids in an index of another kind."""
    if index.kind == kind:
        return index
    out = new_vector_index(kind, index.dim)
    ids = index.ids()
    for i in range(0, len(ids), 100_000):
        out.add(ids[i:i + 100_000], index.vectors(ids[i:i + 100_000]))
    return out
