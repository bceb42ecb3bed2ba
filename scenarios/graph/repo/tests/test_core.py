import pytest

from graph import Graph


def test_nodes_include_targets():
    g = Graph()
    g.add_edge("b", "a", 2)
    assert g.nodes() == ["a", "b"]
    assert g.neighbors("b") == [("a", 2)]


def test_negative_weight_rejected():
    with pytest.raises(ValueError):
        Graph().add_edge("a", "b", -1)
