from eventsim import Network, Simulator


def test_single_message():
    sim = Simulator()
    net = Network(sim, latency=5)
    net.send("a", "b", "hello")
    sim.run()
    assert net.inbox("b") == [(5, "a", "hello")]


def test_messages_on_one_link_keep_their_order():
    sim = Simulator()
    net = Network(sim, latency=3)
    net.send("a", "b", "open")
    net.send("a", "b", "write")
    net.send("a", "b", "close")
    sim.run()
    assert [m for _, _, m in net.inbox("b")] == ["open", "write", "close"]


def test_zero_delay_reply_waits_for_messages_already_due():
    sim = Simulator()
    net = Network(sim, latency=1)
    net.on_message("b", lambda n, sender, msg: n.send("b", "log", f"ack {msg}", delay=0))
    net.send("c", "log", "boot")
    net.send("a", "b", "x")
    sim.run()
    assert net.inbox("log") == [(1, "c", "boot"), (1, "b", "ack x")]
