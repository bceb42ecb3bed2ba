class Graph:
    """Directed graph with non-negative edge weights."""

    def __init__(self):
        self._edges = {}

    def add_edge(self, source, target, weight=1):
        if weight < 0:
            raise ValueError("weights must be non-negative")
        self._edges.setdefault(source, {})[target] = weight
        self._edges.setdefault(target, {})

    def nodes(self):
        return sorted(self._edges)

    def neighbors(self, node):
        """(neighbor, weight) pairs in name order."""
        return sorted(self._edges.get(node, {}).items())

    def __contains__(self, node):
        return node in self._edges
