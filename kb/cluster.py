"""Parsing and embedding on a Dask cluster, committing here.

For collections too large to embed on one machine: `kb ingest --cluster tcp://host:8786 PATH`
(or `--workers N` for a local cluster of N processes) sends each new or changed file's bytes
to a Dask worker, which parses it, cuts its passages and embeds them with a model it loaded
once; this process stays the one writer and commits each document as its result comes back,
in the order of the files, so the store ends as a single-process ingest leaves it (the same
passage ids; vectors equal to within float rounding).

Run a cluster on real machines with Dask's own commands (kb and its model installed on each):

    dask scheduler --port 8786                         # on one machine
    dask worker tcp://SCHEDULER:8786 --nworkers 1 --nthreads 1   # on each machine that embeds
    kb ingest --cluster tcp://SCHEDULER:8786 reports/  # where the home is
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .settings import Settings

__all__ = ["Recipe", "connect", "parse_and_embed"]

_EMBEDDERS: dict[tuple, Any] = {}  # per worker process: the model, loaded once


@dataclass(frozen=True)
class Recipe:
    """What a worker needs to cut and embed passages as this home does."""

    model: str
    device: str
    batch_size: int
    chunk_tokens: int
    chunk_overlap: int
    embed_context: bool

    @classmethod
    def of(cls, s: Settings) -> "Recipe":
        return cls(s.model, s.device, s.batch_size, s.chunk_tokens, s.chunk_overlap, s.embed_context)


def _embedder(recipe: Recipe):
    from index import load_embedder

    key = (recipe.model, recipe.device, recipe.batch_size)
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = load_embedder(recipe.model, device=recipe.device, batch_size=recipe.batch_size)
    return _EMBEDDERS[key]


def parse_and_embed(name: str, data: bytes, recipe: Recipe):
    """On a worker: the file's loaded document, its passages (chunks) and their vectors, in
    passage order; or, for a file that cannot be read, the `LoadError`'s message alone (an
    expected outcome, reported by the writer, not a task failure for Dask to log)."""
    from .chunking import chunk_document
    from .errors import LoadError
    from .ingest import embedding_text
    from .loaders import load_document
    from .records import Document

    e = _embedder(recipe)
    try:
        loaded = load_document(Path(name), data)
    except LoadError as exc:
        return exc.message
    chunks = chunk_document(loaded, e.count_tokens, e.max_tokens, recipe.chunk_tokens, recipe.chunk_overlap)
    if recipe.embed_context:  # what the encoder reads, as `Ingester._embed` builds it
        doc = Document("", loaded.title, name, loaded.date, loaded.format, "", loaded.pages, len(chunks),
                       organisation=loaded.organisation, period=loaded.period, kind=loaded.kind)
        texts = [embedding_text(doc, c) for c in chunks]
    else:
        texts = [c.clean for c in chunks]
    vectors = e.embed_batch(texts) if texts else np.zeros((0, 0), np.float32)
    return loaded, chunks, np.asarray(vectors, np.float32)


def connect(address: str | None = None, workers: int | None = None):
    """A Dask client: to the scheduler at `address`, or to a local cluster of `workers`
    processes (one thread each: the encoder's own threads use the cores) on loopback."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the cluster extra is part of make test
        raise RuntimeError("kb ingest on a cluster needs Dask: pip install 'kb[cluster]'") from exc
    if address:
        return Client(address, timeout="30s")
    threads = max(1, (os.cpu_count() or 1) // max(1, workers or 1))
    cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, env={"OMP_NUM_THREADS": str(threads)})
    client = Client(cluster)
    client.own_cluster = cluster  # type: ignore[attr-defined]  # closed with the client (`close`)
    return client


def close(client) -> None:
    cluster = getattr(client, "own_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()
