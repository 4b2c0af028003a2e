"""Index files are written beside their target and swapped in: a reader never sees half of them."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["replaced_folder", "mapped", "link", "identity", "Rows"]


def mapped(path: Path) -> np.ndarray:
    """A saved array memory-mapped read-only, as a plain ndarray view (which keeps the mapping
    alive): slicing an np.memmap runs Python code (`__array_finalize__`) per slice, a view's
    slicing does not, and the evidence lookup slices once per result."""
    return np.asarray(np.load(path, mmap_mode="r"))


@contextmanager
def replaced_folder(path: Path) -> Iterator[Path]:
    """A fresh folder beside `path` to write into; when the block ends without error its files
    are fsynced and it replaces `path` by two renames (the old folder is removed after)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:  # a failed write (a full disk) leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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


def link(source: Path, target: Path) -> None:
    """`target` as a second name for the file `source` (a copy where links are not possible):
    index files are never written in place, so a file can serve two folders."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class Rows:
    """A saved array's rows (memory-mapped) and the rows appended since: appending copies
    none of the saved ones, and `save` links the saved file into the new folder and writes
    only the appended rows, until they reach `spill` of the whole (then all are written as
    one file again). At 1M vectors that spares copying and writing 1.5 GB per write."""

    spill = 0.05

    def __init__(self, saved: np.ndarray, added: np.ndarray, source: Path | None = None):
        self.saved, self.added = saved, added
        self._source = (source, identity(source)) if source is not None else None  # the file `saved` maps

    @classmethod
    def empty(cls, width: int, dtype=np.float32) -> "Rows":
        return cls(np.zeros((0, width), dtype), np.zeros((0, width), dtype))

    def __len__(self) -> int:
        return len(self.saved) + len(self.added)

    def append(self, rows: np.ndarray) -> "Rows":
        """These rows and `rows` after them (a new `Rows`: readers of this one see no change)."""
        out = Rows(self.saved, np.concatenate([self.added, rows]))
        out._source = self._source
        return out

    def take(self, at: np.ndarray) -> np.ndarray:
        """The rows at positions `at`, in that order, in memory."""
        at = np.asarray(at, dtype=np.int64)
        n = len(self.saved)
        if not len(self.added) or not len(at) or at.max() < n:
            return np.asarray(self.saved[at])
        out = np.empty((len(at), *self.saved.shape[1:]), self.saved.dtype)
        low = at < n
        out[low] = self.saved[at[low]]
        out[~low] = self.added[at[~low] - n]
        return out

    def save(self, folder: Path, name: str) -> None:
        """`name`.npy in `folder`, and `name`.added.npy while rows are appended to a saved file."""
        source, known = self._source or (None, None)
        if source is not None and known == identity(source) and len(self.added) <= self.spill * len(self):
            link(source, folder / f"{name}.npy")
            if len(self.added):
                np.save(folder / f"{name}.added.npy", self.added)
        else:
            np.save(folder / f"{name}.npy", np.concatenate([self.saved, self.added]) if len(self.added) else np.asarray(self.saved))

    @classmethod
    def load(cls, folder: Path, name: str) -> "Rows":
        saved = mapped(folder / f"{name}.npy")
        extra = folder / f"{name}.added.npy"
        added = mapped(extra) if extra.exists() else np.zeros((0, *saved.shape[1:]), saved.dtype)
        return cls(saved, added, folder / f"{name}.npy")
