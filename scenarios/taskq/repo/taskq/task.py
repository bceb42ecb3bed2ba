class Task:
    """A named unit of work; `after` names the tasks that must run first."""

    def __init__(self, name, priority=0, after=[]):
        self.name = name
        self.priority = priority
        self.after = after

    def require(self, other):
        if other.name not in self.after:
            self.after.append(other.name)
        return self

    def __repr__(self):
        return f"Task({self.name!r}, priority={self.priority}, after={self.after!r})"
