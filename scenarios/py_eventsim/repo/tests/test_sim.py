import pytest

from eventsim import Simulator


def test_events_run_in_time_order():
    sim, seen = Simulator(), []
    sim.schedule(5, seen.append, "late")
    sim.schedule(1, seen.append, "early")
    sim.run()
    assert seen == ["early", "late"]
    assert sim.now == 5


def test_same_time_events_run_in_scheduling_order():
    sim, seen = Simulator(), []
    for name in ["first", "second", "third"]:
        sim.schedule(2, seen.append, name)
    sim.run()
    assert seen == ["first", "second", "third"]


def test_run_until_leaves_later_events():
    sim, seen = Simulator(), []
    sim.schedule(1, seen.append, 1)
    sim.schedule(10, seen.append, 10)
    sim.run(until=5)
    assert seen == [1]
    assert "pending=1" in repr(sim)


def test_negative_delay_rejected():
    with pytest.raises(ValueError):
        Simulator().schedule(-1, print)
