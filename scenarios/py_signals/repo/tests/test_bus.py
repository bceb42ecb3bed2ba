from signals import EventBus


def test_publish_reaches_subscribers_in_order():
    bus, seen = EventBus("app"), []
    bus.subscribe("ping", lambda p: seen.append(("first", p)))
    bus.subscribe("ping", lambda p: seen.append(("second", p)))
    assert bus.publish("ping", 1) == 2
    assert seen == [("first", 1), ("second", 1)]


def test_unsubscribe():
    bus, seen = EventBus("app"), []
    stop = bus.subscribe("ping", seen.append)
    stop()
    assert bus.publish("ping", 1) == 0
    assert seen == []
