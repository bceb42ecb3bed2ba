from signals import Bridge, EventBus


def record(bus, topics):
    seen = []
    for topic in topics:
        bus.subscribe(topic, lambda payload, topic=topic: seen.append((topic, payload)))
    return seen


def test_forward_one_topic():
    src, dst = EventBus("orders"), EventBus("audit")
    seen = record(dst, ["order.created"])
    Bridge(src, dst).forward(["order.created"])
    src.publish("order.created", {"id": 1})
    assert seen == [("order.created", {"id": 1})]


def test_forward_several_topics():
    src, dst = EventBus("orders"), EventBus("audit")
    seen = record(dst, ["order.created", "order.paid"])
    Bridge(src, dst).forward(["order.created", "order.paid"])
    src.publish("order.created", {"id": 1})
    src.publish("order.paid", {"id": 1})
    assert seen == [("order.created", {"id": 1}), ("order.paid", {"id": 1})]


def test_prefix():
    src, dst = EventBus("orders"), EventBus("audit")
    seen = record(dst, ["shop.a", "shop.b"])
    Bridge(src, dst, prefix="shop.").forward(["a", "b"])
    src.publish("a", 1)
    assert seen == [("shop.a", 1)]


def test_close_stops_forwarding():
    src, dst = EventBus("orders"), EventBus("audit")
    seen = record(dst, ["x", "y"])
    bridge = Bridge(src, dst).forward(["x", "y"])
    bridge.close()
    assert src.publish("x", 1) == 0
    assert seen == []
