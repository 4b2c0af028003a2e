"""Index files are written beside their target and swapped in: a reader never sees half of them."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["replaced_folder", "mapped"]


def mapped(path: Path) -> np.ndarray:
    """A saved array memory-mapped read-only, as a plain ndarray view (which keeps the mapping
    alive): slicing an np.memmap runs Python code (`__array_finalize__`) per slice, a view's
    slicing does not. The evidence lookup slices once per result: 116 against 123 µs."""
    return np.asarray(np.load(path, mmap_mode="r"))


@contextmanager
def replaced_folder(path: Path) -> Iterator[Path]:
    """A fresh folder beside `path` to write into; when the block ends without error its files
    are fsynced and it replaces `path` by two renames (the old folder is removed after)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    yield tmp
    for f in tmp.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
