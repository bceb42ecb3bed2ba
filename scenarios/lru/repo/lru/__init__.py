"""A fixed-capacity least-recently-used cache."""

from lru.cache import LRUCache
from lru.stats import CacheStats

__all__ = ["CacheStats", "LRUCache"]
