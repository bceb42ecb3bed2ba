import pytest

from metro import Network


def test_links_go_both_ways():
    net = Network()
    net.link("A", "B", 2)
    assert net.neighbours("B") == [("A", 2)]
    assert net.stations() == ["A", "B"]


def test_zero_minute_link_rejected():
    with pytest.raises(ValueError):
        Network().link("A", "B", 0)
