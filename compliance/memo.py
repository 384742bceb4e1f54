"""A bounded, thread-safe map from a content key to a value derived from that content.

Enrichment keeps the facts of recurring counterparties and items here: a procurement export repeats the
same parties and chips across thousands of rows, and a fact depends only on the inputs in its key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """Content key → value, oldest-first eviction past ``size`` entries.

    Reads take no lock (a dict lookup is atomic in CPython); inserts and evictions take one, so concurrent
    evaluations never see a half-evicted map. Two threads missing on one key both compute it; the values
    are equal by construction, and the later one wins.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("cache size must be at least 1")
        self._size = size
        self._data: dict[Hashable, V] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        value = self._data.get(key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = make()
        self.put(key, value)
        return value

    def get(self, key: Hashable) -> V | None:
        return self._data.get(key)

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            data = self._data
            while len(data) >= self._size:
                del data[next(iter(data))]
            data[key] = value

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
