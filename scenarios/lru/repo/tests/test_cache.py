import pytest

from lru import LRUCache


def test_get_returns_stored_value():
    cache = LRUCache(capacity=2)
    cache.put("a", 1)
    assert cache.get("a") == 1
    assert cache.get("missing") is None


def test_evicts_least_recently_used():
    cache = LRUCache(capacity=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")
    cache.put("c", 3)
    assert "b" not in cache
    assert cache.keys() == ["a", "c"]


def test_rejects_zero_capacity():
    with pytest.raises(ValueError):
        LRUCache(capacity=0)


def test_capacity_respected_after_clear():
    cache = LRUCache(capacity=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.clear()
    cache.put("x", 10)
    cache.put("y", 20)
    cache.put("z", 30)
    assert len(cache) == 2


def test_evicts_least_recently_used_after_clear():
    cache = LRUCache(capacity=2)
    cache.put("a", 1)
    cache.clear()
    cache.put("x", 10)
    cache.put("y", 20)
    cache.get("x")
    cache.put("z", 30)
    assert cache.keys() == ["x", "z"]
