class Network:
    """Nodes addressed by name; every message takes `latency` units to arrive."""

    def __init__(self, sim, latency=1):
        self.sim = sim
        self.latency = latency
        self._inboxes = {}
        self._handlers = {}

    def __repr__(self):
        return f"Network(latency={self.latency}, nodes={sorted(self._inboxes)})"

    def on_message(self, node, handler):
        """`handler(network, sender, message)` runs when `node` receives a message."""
        self._handlers[node] = handler

    def send(self, sender, receiver, message, delay=None):
        latency = self.latency if delay is None else delay
        self.sim.schedule(latency, self._deliver, sender, receiver, message)

    def _deliver(self, sender, receiver, message):
        self._inboxes.setdefault(receiver, []).append((self.sim.now, sender, message))
        handler = self._handlers.get(receiver)
        if handler is not None:
            handler(self, sender, message)

    def inbox(self, node):
        return list(self._inboxes.get(node, []))
