import heapq


class NoPath(Exception):
    pass


def reachable(graph, start):
    """Every node reachable from `start`, including itself, in name order."""
    seen = {start}
    stack = [start]
    while stack:
        node = stack.pop()
        for neighbor, _ in graph.neighbors(node):
            if neighbor not in seen:
                seen.add(neighbor)
                stack.append(neighbor)
    return sorted(seen)


def shortest_path(graph, start, goal):
    """The cheapest path from `start` to `goal` as (nodes, cost). Raises NoPath."""
    if start not in graph or goal not in graph:
        raise NoPath(f"{start!r} or {goal!r} is not in the graph")
    best = {start: 0}
    previous = {}
    settled = set()
    queue = [(start, 0)]
    while queue:
        node, cost = heapq.heappop(queue)
        if node in settled:
            continue
        settled.add(node)
        if node == goal:
            break
        for neighbor, weight in graph.neighbors(node):
            candidate = cost + weight
            if neighbor not in settled and candidate < best.get(neighbor, float("inf")):
                best[neighbor] = candidate
                previous[neighbor] = node
                heapq.heappush(queue, (neighbor, candidate))
    if goal not in settled:
        raise NoPath(f"no path from {start!r} to {goal!r}")
    path = [goal]
    while path[-1] != start:
        path.append(previous[path[-1]])
    return path[::-1], best[goal]
