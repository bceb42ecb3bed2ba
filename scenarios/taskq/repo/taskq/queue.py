import heapq


class CycleError(Exception):
    pass


class TaskQueue:
    def __init__(self, tasks=()):
        self._tasks = {}
        for task in tasks:
            self.add(task)

    def __repr__(self):
        return f"TaskQueue({sorted(self._tasks)!r})"

    def add(self, task):
        if task.name in self._tasks:
            raise ValueError(f"duplicate task {task.name!r}")
        self._tasks[task.name] = task

    def run_order(self):
        """Names in an order that respects `after`; ties go to higher priority, then name."""
        waiting = {}
        for name, task in self._tasks.items():
            unknown = [d for d in task.after if d not in self._tasks]
            if unknown:
                raise ValueError(f"{name!r} depends on unknown task {unknown[0]!r}")
            waiting[name] = set(task.after)
        ready = [(-self._tasks[n].priority, n) for n, deps in waiting.items() if not deps]
        heapq.heapify(ready)
        order = []
        while ready:
            _, name = heapq.heappop(ready)
            order.append(name)
            for other, deps in waiting.items():
                if name in deps:
                    deps.discard(name)
                    if not deps:
                        heapq.heappush(ready, (-self._tasks[other].priority, other))
        if len(order) != len(self._tasks):
            stuck = sorted(set(self._tasks) - set(order))
            raise CycleError(f"dependency cycle among {stuck}")
        return order
