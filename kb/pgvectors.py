"""Vector search inside PostgreSQL: pgvector's HNSW index over the store's vector column.

With `vector_index = "database"` (PostgreSQL stores only) an app server keeps no vector file
and no vectors in memory: every dense search is one SQL query, answered by the primary or a
replica like any other read. Many stateless app servers then share one copy of the vectors,
and a new server is ready without reading them. The cost is a round trip and PostgreSQL's
own HNSW per query (`bench/backends.py` prints both paths side by side). BM25 stays kb's own,
rebuilt per server from the database: PostgreSQL's full-text ranking measured far below it
(`bench/pg_fulltext.py`).

Rows are written by the store's commit, so `add` and `remove` only keep the count that
`len()` answers without a query; `add` also makes sure the HNSW index exists (built once, then
kept up by PostgreSQL row by row).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .pgstore import PostgresStore

__all__ = ["DatabaseVectors", "EXACT_BELOW"]

EXACT_BELOW = 50_000  # a filter allowing fewer passages than this is searched exactly (scan + sort)
MAX_EF = 1000  # pgvector's largest hnsw.ef_search
MIN_EF = 200  # the search width for a small k (pgvector's default is 40); bench/backends.py prints the recall of each


class DatabaseVectors:
    """The `VectorIndex` of a PostgreSQL store (see the module docstring)."""

    kind = "database"

    def __init__(self, store: "PostgresStore", dim: int, count: int | None = None):
        self.store, self.dim = store, int(dim)
        self._count = store.passage_count() if count is None else count
        self._column = f"vector::vector({self.dim})"  # the HNSW index's expression: queries must repeat it

    def __len__(self) -> int:
        return self._count

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.store.index_vectors(self.dim)  # IF NOT EXISTS: one catalogue look after the first
        self._count += len(ids)

    def remove(self, ids: np.ndarray) -> int:
        self._count = max(0, self._count - len(ids))
        return len(ids)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) as `VectorIndex.search`. With a filter that allows few passages, those
        are scored exactly (an HNSW walk would skip most of its neighbours); with a wide one,
        pgvector's iterative scan walks on until it has `k` that pass."""
        from pgvector import Vector

        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        exact = allowed is not None and len(allowed) < EXACT_BELOW
        if allowed is not None and not len(allowed):
            return scores, ids
        keys = [int(i) for i in allowed] if allowed is not None else None
        distance = f"{self._column} <#> %b"
        where = "WHERE key = ANY(%s) " if keys is not None else ""
        order = f"({distance}) + 0" if exact else distance  # "+ 0": not the index's expression: a scan of the allowed keys
        sql = f"SELECT key, -({distance}) FROM passages {where}ORDER BY {order} LIMIT %s"
        ef_search = min(MAX_EF, max(MIN_EF, k))
        for n, query in enumerate(queries):
            q = Vector(query)
            args = (q, keys, q, k) if keys is not None else (q, q, k)
            rows = self.store.nearest(sql, args, ef_search=ef_search, iterative=keys is not None)
            rows.sort(key=lambda r: -r[1])  # an iterative scan may return them slightly out of order
            for j, (key, score) in enumerate(rows[:k]):
                ids[n, j], scores[n, j] = key, score
        return scores, ids

    def ids(self) -> np.ndarray:
        return self.store.passage_keys()

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.store.vectors_of(np.asarray(ids, dtype=np.int64).reshape(-1), self.dim)

    def save(self, path: Path) -> None:
        """Nothing to write: the database holds the vectors and their index."""

    def copy(self) -> "DatabaseVectors":
        return DatabaseVectors(self.store, self.dim, self._count)
