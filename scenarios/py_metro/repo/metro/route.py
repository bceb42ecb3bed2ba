import heapq


class NoRoute(Exception):
    pass


def fastest(network, start, goal):
    """(minutes, [stations]) of a quickest journey from start to goal."""
    queue = [(0, [start])]
    seen = {start}
    while queue:
        minutes, path = heapq.heappop(queue)
        station = path[-1]
        if station == goal:
            return minutes, path
        for nxt, cost in network.neighbours(station):
            if nxt not in seen:
                seen.add(nxt)
                heapq.heappush(queue, (minutes + cost, path + [nxt]))
    raise NoRoute(f"no route from {start} to {goal}")
