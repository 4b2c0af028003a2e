"""A bounded least-recently-used cache, shared by threads: query vectors, sentence vectors and
analysed passage terms are each worth keeping for the next search that needs them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable, Sequence, TypeVar

__all__ = ["LRU"]

V = TypeVar("V")


class LRU:
    def __init__(self, size: int):
        self._size = size
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[Hashable], compute: Callable[[list], Sequence[V]]) -> list[V]:
        """The value of each key; those not cached are computed together by `compute(missing)`
        (outside the lock, so other threads keep reading) and kept."""
        with self._lock:
            known = {k: self._items[k] for k in keys if k in self._items}
        missing = [k for k in dict.fromkeys(keys) if k not in known]
        if missing:
            known.update(zip(missing, compute(missing)))
        with self._lock:
            for k in dict.fromkeys(keys):
                self._items[k] = known[k]
                self._items.move_to_end(k)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return [known[k] for k in keys]  # type: ignore[misc]  # every key is known by now

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
