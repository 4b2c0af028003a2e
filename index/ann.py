"""Approximate nearest neighbours for large collections: HNSW over 8-bit codes, rescored exactly.

`HnswIndex` keeps the same contract as `FaissIndex` (see `vectors.VectorIndex`), so the engine
and the contract tests do not know which one they hold. Per passage it costs 384 bytes of
scalar-quantised codes plus ~256 bytes of graph in RAM (MiniLM, M=32): ~0.63 GB at a million.
The default efSearch, 384, was chosen at a million passages (bench/scale.py), where 256
lost recall@10 and 512 gained little for a slower search.
Full-precision vectors live in a memory-mapped file; only the shortlist's rows are read, to
rescore the graph's `shortlist` best exactly, which is what lifts recall@10 to ~0.99.

FAISS HNSW graphs cannot delete. `remove` marks rows dead (a tombstone bitmap the search
skips); `compact` rebuilds the graph from the live rows, and `save` does so once more than
`max_dead` of the rows are dead. A filter that allows few rows is searched exactly instead:
a graph walk restricted to 1% of the collection wanders far before it finds them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .files import Rows, identity, link, replaced_folder

__all__ = ["HnswIndex"]


def _as_ids(ids) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


class HnswIndex:
    """HNSW (M links per node) over SQ8 codes; shortlist rescored on exact vectors."""

    kind = "hnsw"

    def __init__(self, dim: int, m: int = 32, ef_construction: int = 64, ef_search: int = 384,
                 shortlist: int = 50, exact_below: int = 20_000, max_dead: float = 0.2):
        self.dim, self.m = dim, m
        self.ef_construction, self.ef_search, self.shortlist = ef_construction, ef_search, shortlist
        self.exact_below, self.max_dead = exact_below, max_dead
        self._graph: Any = None                     # faiss.IndexHNSWSQ; its row numbers are ours
        self._keys = np.zeros(0, np.int64)          # row -> passage id
        self._alive = np.zeros(0, bool)             # row -> not removed
        self._exact = Rows.empty(dim)  # row -> vector (memory-mapped once saved)
        self._graph_file: tuple[Path, tuple | None] | None = None  # the file `_graph` was read from or written to, while unchanged
        self._graph_shared = False  # `copy` shares the graph until one of the two changes it
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None  # live ids sorted, their rows
        self._live: tuple[int, np.ndarray | None] | None = None  # live rows, their packed bitmap if any are dead

    # -- writing ---------------------------------------------------------------------

    def _new_graph(self, sample: np.ndarray):
        import faiss

        graph = faiss.IndexHNSWSQ(self.dim, faiss.ScalarQuantizer.QT_8bit, self.m,  # type: ignore[arg-type]  # SWIG stubs
                                  faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self.ef_construction
        graph.train(sample)
        return graph

    def add(self, ids, vectors: np.ndarray) -> None:
        ids = _as_ids(ids)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        if not len(ids):
            return
        self.remove(ids)  # an id added again replaces its old row
        if self._graph is None:
            self._graph = self._new_graph(vectors[:100_000])
        elif self._graph_shared:
            import faiss

            self._graph, self._graph_shared = faiss.clone_index(self._graph), False
        self._graph.add(vectors)
        self._graph_file = None
        self._keys = np.concatenate([self._keys, ids])
        self._alive = np.concatenate([self._alive, np.ones(len(ids), bool)])
        self._exact = self._exact.append(vectors)
        self._lookup = self._live = None

    def remove(self, ids) -> int:
        rows = self._rows(_as_ids(ids))
        rows = rows[rows >= 0]
        self._alive[rows] = False
        if len(rows):
            self._lookup = self._live = None
        return int(len(rows))

    def copy(self) -> "HnswIndex":
        """An independent copy. The exact vectors are shared, as nothing writes into them
        (`add` and `compact` make new ones, `save` maps the new files); so is the graph, until
        either index adds to it (cloning the graph at a million passages takes a second or more,
        and a removal never adds)."""
        import copy

        other = copy.copy(self)
        self._graph_shared = other._graph_shared = self._graph is not None
        other._alive = self._alive.copy()  # `remove` clears flags in place
        return other

    def compact(self) -> None:
        """Rebuild the graph from the live rows, dropping the dead ones for good."""
        keep = np.flatnonzero(self._alive)
        keys, vectors = self._keys[keep], self._exact.take(keep)
        self._graph, self._keys, self._alive = None, np.zeros(0, np.int64), np.zeros(0, bool)
        self._graph_file, self._graph_shared = None, False
        self._exact, self._lookup, self._live = Rows.empty(self.dim), None, None
        self.add(keys, vectors)

    # -- reading ---------------------------------------------------------------------

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        """Row of each live id, -1 where there is none."""
        if self._lookup is None:
            live = np.flatnonzero(self._alive)
            order = np.argsort(self._keys[live], kind="stable")
            self._lookup = (self._keys[live][order], live[order])
        keys, rows = self._lookup
        if not len(keys):
            return np.full(len(ids), -1, np.int64)
        pos = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
        return np.where(keys[pos] == ids, rows[pos], -1)

    def search(self, queries: np.ndarray, k: int, allowed=None):
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        k = max(1, int(k))
        if allowed is None:
            live, bitmap = self._tombstones()
            mask = self._alive
        else:
            rows = self._rows(_as_ids(allowed))
            mask = np.zeros(len(self._keys), bool)
            mask[rows[rows >= 0]] = True
            live = int(mask.sum())
            bitmap = np.packbits(mask, bitorder="little") if live < len(mask) else None
        if live <= max(self.exact_below, k):
            return self._exact_search(queries, k, np.flatnonzero(mask))
        return self._graph_search(queries, k, mask, live, bitmap)

    def _tombstones(self) -> tuple[int, np.ndarray | None]:
        """Live rows and, when some are dead, the bitmap FAISS filters by; kept until the next
        write (counting and packing a million flags per query cost as much as the search)."""
        if self._live is None:
            live = int(self._alive.sum())
            self._live = (live, np.packbits(self._alive, bitorder="little") if live < len(self._alive) else None)
        return self._live

    def _exact_search(self, queries, k, rows):
        n = len(queries)
        scores, ids = np.full((n, k), -np.inf, np.float32), np.full((n, k), -1, np.int64)
        if not len(rows):
            return scores, ids
        sims = queries @ self._exact.take(rows).T
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        take = top.shape[1]
        scores[:, :take] = np.take_along_axis(sims, top, 1)
        ids[:, :take] = self._keys[rows[top]]
        return scores, ids

    def _graph_search(self, queries, k, mask, live, bitmap):
        import faiss

        depth = max(k, self.shortlist)
        params = faiss.SearchParametersHNSW()
        # a filter thins the graph: widen the walk in proportion, within reason
        params.efSearch = int(min(4096, max(self.ef_search, depth) * len(mask) / live)) if live < len(mask) else max(self.ef_search, depth)
        if bitmap is not None:
            params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        _, rows = self._graph.search(queries, depth, params=params)
        n = len(queries)
        scores, ids = np.full((n, k), -np.inf, np.float32), np.full((n, k), -1, np.int64)
        for q in range(n):
            found = rows[q][rows[q] >= 0]
            exact = self._exact.take(np.sort(found)) @ queries[q]  # sorted rows read the file in order
            order = np.argsort(-exact, kind="stable")[:k]
            scores[q, :len(order)] = exact[order]
            ids[q, :len(order)] = self._keys[np.sort(found)[order]]
        del bitmap  # FAISS held a raw pointer into it
        return scores, ids

    def vectors(self, ids) -> np.ndarray:
        """The stored vectors of `ids` (all must be present), one row each."""
        ids = _as_ids(ids)
        rows = self._rows(ids)
        if (rows < 0).any():
            raise KeyError(f"id {int(ids[rows < 0][0])} is not in the index")
        return self._exact.take(rows)

    def ids(self) -> np.ndarray:
        return self._keys[self._alive]

    def __len__(self) -> int:
        return self._tombstones()[0]

    @property
    def dead(self) -> int:
        return len(self._alive) - len(self)

    # -- files -----------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Into a fresh folder beside `path`, fsynced, then swapped in by renames.
        Compacts first when too many rows are dead."""
        import faiss

        if len(self._alive) and self.dead / len(self._alive) > self.max_dead:
            self.compact()
        path = Path(path)
        with replaced_folder(path) as tmp:
            if self._graph is not None:
                source, known = self._graph_file or (None, None)
                if source is not None and known == identity(source):  # unchanged (a removal): linked, not written
                    link(source, tmp / "graph.faiss")
                else:
                    faiss.write_index(self._graph, str(tmp / "graph.faiss"))
            np.save(tmp / "keys.npy", self._keys)
            np.save(tmp / "alive.npy", self._alive)
            self._exact.save(tmp, "vectors")
            # how the graph was built; search breadth (ef_search, shortlist) is this code's, not the file's
            meta = {"kind": self.kind, "dim": self.dim, "m": self.m, "ef_construction": self.ef_construction}
            (tmp / "meta.json").write_text(json.dumps(meta))
        self._exact = Rows.load(path, "vectors")  # serve from the files now, not from a private copy
        self._graph_file = (path / "graph.faiss", identity(path / "graph.faiss")) if self._graph is not None else None

    @classmethod
    def load(cls, path: Path) -> "HnswIndex":
        import faiss

        path = Path(path)
        meta = json.loads((path / "meta.json").read_text())
        index = cls(meta["dim"], meta["m"], meta["ef_construction"])  # search breadth: this code's defaults
        index._keys = np.load(path / "keys.npy")
        index._alive = np.load(path / "alive.npy")
        index._exact = Rows.load(path, "vectors")
        if (path / "graph.faiss").exists():
            index._graph = faiss.read_index(str(path / "graph.faiss"))
            index._graph_file = (path / "graph.faiss", identity(path / "graph.faiss"))
        return index
