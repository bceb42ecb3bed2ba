import pytest

from graph import Graph, NoPath, reachable, shortest_path


def make_graph(edges):
    g = Graph()
    for source, target, weight in edges:
        g.add_edge(source, target, weight)
    return g


def test_straight_line():
    g = make_graph([("a", "b", 1), ("b", "c", 2)])
    assert shortest_path(g, "a", "c") == (["a", "b", "c"], 3)


def test_start_is_goal():
    g = make_graph([("a", "b", 1)])
    assert shortest_path(g, "a", "a") == (["a"], 0)


def test_no_path():
    g = make_graph([("a", "b", 1), ("c", "d", 1)])
    with pytest.raises(NoPath):
        shortest_path(g, "a", "d")


def test_prefers_cheaper_route_through_later_names():
    g = make_graph([("a", "b", 10), ("b", "d", 1), ("a", "c", 1), ("c", "d", 2)])
    assert shortest_path(g, "a", "d") == (["a", "c", "d"], 3)


def test_cheap_detour():
    g = make_graph([("s", "a", 5), ("s", "x", 1), ("x", "y", 1), ("y", "a", 1), ("a", "t", 1)])
    assert shortest_path(g, "s", "t") == (["s", "x", "y", "a", "t"], 4)


def test_reachable():
    g = make_graph([("a", "b", 1), ("b", "c", 1), ("d", "a", 1)])
    assert reachable(g, "a") == ["a", "b", "c"]
