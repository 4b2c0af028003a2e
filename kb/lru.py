"""A bounded least-recently-used cache, shared by threads: query vectors, sentence vectors and
analysed passage terms are each worth keeping for the next search that needs them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable, Sequence, TypeVar

__all__ = ["LRU"]

V = TypeVar("V")
_MISSING = object()


class LRU:
    def __init__(self, size: int):
        self._size = size
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[Hashable], compute: Callable[[list], Sequence[V]]) -> list[V]:
        """The value of each key; those not cached are computed together by `compute(missing)`
        (outside the lock, so other threads keep reading) and kept."""
        items, known = self._items, {}
        with self._lock:
            for k in keys:
                v = items.get(k, _MISSING)
                if v is not _MISSING:
                    items.move_to_end(k)
                    known[k] = v
        if len(known) < len(keys):
            missing = [k for k in dict.fromkeys(keys) if k not in known]
            if missing:
                computed = dict(zip(missing, compute(missing)))
                known.update(computed)
                with self._lock:
                    items.update(computed)
                    while len(items) > self._size:
                        items.popitem(last=False)
        return [known[k] for k in keys]  # type: ignore[misc]  # every key is known by now

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
