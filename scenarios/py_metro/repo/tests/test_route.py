import pytest

from metro import Network, NoRoute, fastest


def line(*stops):
    net = Network()
    for (a, b), minutes in zip(zip(stops, stops[1:]), range(2, 20)):
        net.link(a, b, minutes)
    return net


def test_same_station():
    assert fastest(line("A", "B"), "A", "A") == (0, ["A"])


def test_along_a_line():
    assert fastest(line("A", "B", "C", "D"), "A", "D") == (2 + 3 + 4, ["A", "B", "C", "D"])


def test_no_route():
    net = line("A", "B")
    net.link("X", "Y", 1)
    with pytest.raises(NoRoute, match="from A to Y"):
        fastest(net, "A", "Y")


def test_detour_beats_direct_link():
    net = Network()
    net.link("Park", "Harbour", 12)
    net.link("Park", "Market", 3)
    net.link("Market", "Harbour", 4)
    assert fastest(net, "Park", "Harbour") == (7, ["Park", "Market", "Harbour"])


def test_fast_direct_link_is_used():
    net = Network()
    net.link("Park", "Harbour", 5)
    net.link("Park", "Market", 3)
    net.link("Market", "Harbour", 4)
    assert fastest(net, "Park", "Harbour") == (5, ["Park", "Harbour"])


def test_longer_detour_in_a_grid():
    net = Network()
    for a, b, m in [("A", "E", 1), ("E", "D", 9), ("A", "B", 2), ("B", "C", 1), ("C", "D", 1)]:
        net.link(a, b, m)
    assert fastest(net, "A", "D") == (4, ["A", "B", "C", "D"])
