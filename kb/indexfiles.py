"""The index files of a home: written beside the old ones and swapped in, stamped by a manifest.

``index/manifest.json`` records the format, the store generation the files were built at, the
model and chunking settings, the passage count and a SHA-256 of the files. Files whose manifest does not match the store (a crash between
the store commit and the index write, another format, another model) are not used: the caller
rebuilds them from the store, which holds every vector.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from index import BM25Index, SearchEngine, load_vector_index

from .faults import fault

VECTOR_FILES = {"flat": "vectors.faiss", "hnsw": "vectors.hnsw"}  # one file; a folder

__all__ = ["INDEX_FORMAT", "load_index", "save_index", "checksum"]

log = logging.getLogger("kb")

INDEX_FORMAT = 6  # bump when what the index files hold changes; older files are rebuilt from the store


def checksum(folder: Path, kind: str = "flat") -> str:
    """SHA-256 over the index files (names and bytes) of a `kind` vector index, in a fixed order."""
    digest = hashlib.sha256()
    vectors = folder / VECTOR_FILES[kind]
    files = [vectors, *sorted(vectors.rglob("*")), *sorted((folder / "lexical").rglob("*"))]
    for f in files:
        if f.is_file():
            digest.update(str(f.relative_to(folder)).encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def load_index(folder: Path, engine: SearchEngine, generation: int, model: str) -> SearchEngine | None:
    """`engine` with the files in `folder` loaded, or None if they are stale, altered or
    unreadable (the caller then rebuilds them from the store)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if (manifest.get("format"), manifest.get("generation"), manifest.get("model")) != (INDEX_FORMAT, generation, model):
        return None
    kind = manifest.get("vectors", "flat")
    if kind not in VECTOR_FILES or manifest.get("checksum") != checksum(folder, kind):
        log.warning("index files in %s do not match their manifest's checksum; rebuilding from the store", folder)
        return None
    try:
        engine.vectors = load_vector_index(folder / VECTOR_FILES[kind])
        engine.lexical = BM25Index.load(folder / "lexical")
    except Exception as exc:  # unreadable files are rebuilt, not fatal
        log.warning("index files unreadable (%s); rebuilding from the store", exc)
        return None
    if not len(engine.vectors) == len(engine.lexical) == manifest.get("passages"):
        return None
    return engine


def save_index(folder: Path, engine: SearchEngine, generation: int, model: str, chunking: str = "") -> None:
    """Each file is written beside its target, fsynced and renamed; the manifest, with the
    files' checksum, goes last."""
    kind = engine.vectors.kind
    engine.vectors.save(folder / VECTOR_FILES[kind])
    fault("index-write")
    engine.lexical.save(folder / "lexical")
    fault("switch")
    manifest = {"format": INDEX_FORMAT, "generation": generation, "model": model, "chunking": chunking,
                "dimension": engine.vectors.dim, "vectors": kind, "passages": len(engine.vectors), "checksum": checksum(folder, kind)}
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, folder / "manifest.json")
    for other, name in VECTOR_FILES.items():  # the other kind's files, from before a switch
        if other != kind:
            stale = folder / name
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
