class EventBus:
    def __init__(self, name):
        self.name = name
        self._subscribers = {}

    def __repr__(self):
        return f"EventBus({self.name!r}, topics={sorted(self._subscribers)})"

    def subscribe(self, topic, handler):
        self._subscribers.setdefault(topic, []).append(handler)
        return lambda: self._subscribers[topic].remove(handler)

    def publish(self, topic, payload):
        """Call every handler of `topic` in subscription order; return how many ran."""
        handlers = list(self._subscribers.get(topic, []))
        for handler in handlers:
            handler(payload)
        return len(handlers)
