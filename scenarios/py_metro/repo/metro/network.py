class Network:
    """Stations and two-way links, each taking a whole number of minutes."""

    def __init__(self):
        self._links = {}

    def __repr__(self):
        return f"Network(stations={len(self._links)})"

    def link(self, a, b, minutes):
        if minutes <= 0:
            raise ValueError("a link takes at least one minute")
        self._links.setdefault(a, {})[b] = minutes
        self._links.setdefault(b, {})[a] = minutes

    def stations(self):
        return sorted(self._links)

    def neighbours(self, station):
        """(station, minutes) pairs, in name order so results are deterministic."""
        return sorted(self._links.get(station, {}).items())
