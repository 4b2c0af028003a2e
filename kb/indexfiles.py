"""The index files of a home: written beside the old ones and swapped in, stamped by a manifest.

``index/manifest.json`` records the format, the text analysis's signature, the store generation
the files were built at, the model and chunking settings, the passage count and a SHA-256 of
each file. Files whose manifest does not match the store (a crash between
the store commit and the index write, another format, another model) are not used: the caller
rebuilds them from the store, which holds every vector.

Index files are never written in place: a write links the ones it did not change into the
new folder (see `index.files.Rows`). A digest this process computed holds as long as the path
names the same file (device, inode, size, mtime), so a write hashes only what it wrote; a new
process hashes everything it loads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from index import SearchEngine, load_lexical_index, load_vector_index, new_lexical_index
from index.files import identity

from .faults import disk_full, fault

VECTOR_FILES = {"flat": "vectors.faiss", "hnsw": "vectors.hnsw", "database": None}  # one file; a folder; none (PostgreSQL holds them)

__all__ = ["INDEX_FORMAT", "load_index", "save_index", "checksum", "digests"]

log = logging.getLogger("kb")

# Bump when what the index files hold changes; older files are rebuilt from the store. (A change
# of the text analysis needs no bump: the manifest's `analysis` signature catches it.)
INDEX_FORMAT = 15


_KNOWN: dict[tuple, str] = {}  # file identity -> SHA-256, for the files this process hashed


def _files(folder: Path, kind: str) -> list[Path]:
    """The index files of a `kind` vector index, in a fixed order."""
    name = VECTOR_FILES[kind]
    vectors = [folder / name, *sorted((folder / name).rglob("*"))] if name else []
    return [f for f in (*vectors, *sorted((folder / "lexical").rglob("*"))) if f.is_file()]


def _sha256(path: Path, digest=None):
    digest = digest or hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest


def digests(folder: Path, kind: str = "flat") -> dict[str, str]:
    """SHA-256 of each index file, by its path in `folder`; a file this process hashed before
    and that is still the same file is not read again."""
    if len(_KNOWN) > 10_000:
        _KNOWN.clear()
    out = {}
    for f in _files(folder, kind):
        key = identity(f)
        if key is None:  # gone while listed: its digest cannot match
            out[str(f.relative_to(folder))] = ""
            continue
        if key not in _KNOWN:
            _KNOWN[key] = _sha256(f).hexdigest()
        out[str(f.relative_to(folder))] = _KNOWN[key]
    return out


def checksum(folder: Path, kind: str = "flat") -> str:
    """One SHA-256 over the index files' names and bytes: what manifests held before `digests`."""
    digest = hashlib.sha256()
    for f in _files(folder, kind):
        digest.update(str(f.relative_to(folder)).encode())
        _sha256(f, digest)
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
    if manifest.get("analysis") != new_lexical_index().analyzer.signature:  # how this version analyses text
        log.info("index files in %s were analysed by another version of the text analysis; rebuilding from the store", folder)
        return None
    kind = manifest.get("vectors", "flat")
    if kind not in VECTOR_FILES or (manifest["files"] != digests(folder, kind) if "files" in manifest
                                    else manifest.get("checksum") != checksum(folder, kind)):
        log.warning("index files in %s do not match their manifest's checksum; rebuilding from the store", folder)
        return None
    if (kind == "database") != (getattr(engine.vectors, "kind", None) == "database"):  # vector_index moved into or out of the database
        return None
    try:
        name = VECTOR_FILES[kind]
        if name:
            engine.vectors = load_vector_index(folder / name)
        engine.lexical = load_lexical_index(folder / "lexical")
    except Exception as exc:  # unreadable files are rebuilt, not fatal
        log.warning("index files unreadable (%s); rebuilding from the store", exc)
        return None
    if not len(engine.vectors) == len(engine.lexical) == manifest.get("passages"):
        return None
    return engine


def save_index(folder: Path, engine: SearchEngine, generation: int, model: str, chunking: str = "") -> None:
    """Each file is written beside its target, fsynced and renamed; the manifest, with the
    files' digests, goes last."""
    kind = engine.vectors.kind
    disk_full("index-write")
    name = VECTOR_FILES[kind]
    if name:
        engine.vectors.save(folder / name)
    fault("index-write")
    engine.lexical.save(folder / "lexical")
    fault("switch")
    manifest = {"format": INDEX_FORMAT, "analysis": engine.lexical.analyzer.signature, "generation": generation, "model": model, "chunking": chunking,
                "dimension": engine.vectors.dim, "vectors": kind, "passages": len(engine.vectors), "files": digests(folder, kind)}
    tmp = folder / "manifest.json.tmp"
    try:
        tmp.write_text(json.dumps(manifest, indent=2))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, folder / "manifest.json")
    for other, name in VECTOR_FILES.items():  # the other kind's files, from before a switch
        if other != kind and name:
            stale = folder / name
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
