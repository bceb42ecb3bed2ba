class Bridge:
    """Re-publishes events of chosen topics from `source` on `target`."""

    def __init__(self, source, target, prefix=""):
        self.source = source
        self.target = target
        self.prefix = prefix
        self._unsubscribe = []

    def __repr__(self):
        return f"Bridge({self.source.name!r} -> {self.target.name!r}, links={len(self._unsubscribe)})"

    def forward(self, topics):
        for topic in topics:
            handler = lambda payload: self.target.publish(self.prefix + topic, payload)
            self._unsubscribe.append(self.source.subscribe(topic, handler))
        return self

    def close(self):
        while self._unsubscribe:
            self._unsubscribe.pop()()
