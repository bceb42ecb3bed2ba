from lru import LRUCache


def test_hit_rate_counts_hits_and_misses():
    cache = LRUCache(capacity=4)
    cache.put("k", "v")
    cache.get("k")
    cache.get("k")
    cache.get("nope")
    assert cache.stats.hits == 2
    assert cache.stats.misses == 1
    assert round(cache.stats.hit_rate, 2) == 0.67


def test_clear_resets_stats():
    cache = LRUCache(capacity=1)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.clear()
    assert cache.stats.evictions == 0
