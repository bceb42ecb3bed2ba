from lru.stats import CacheStats

_MISSING = object()


class LRUCache:
    """Maps keys to values, keeping at most `capacity` entries.

    `_order` lists the keys from least to most recently used.
    """

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._data = {}
        self._order = []
        self.stats = CacheStats()

    def __repr__(self):
        return f"LRUCache(capacity={self.capacity}, size={len(self._data)})"

    def __len__(self):
        return len(self._data)

    def __contains__(self, key):
        return key in self._data

    def _touch(self, key):
        if key in self._order:
            self._order.remove(key)
        self._order.append(key)

    def get(self, key, default=None):
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            self.stats.misses += 1
            return default
        self.stats.hits += 1
        self._touch(key)
        return value

    def put(self, key, value):
        self._data[key] = value
        self._touch(key)
        if len(self._data) > self.capacity:
            oldest = self._order.pop(0)
            self._data.pop(oldest, None)
            self.stats.evictions += 1

    def keys(self):
        """Keys from least to most recently used."""
        return list(self._order)

    def clear(self):
        self._data.clear()
        self.stats.reset()
