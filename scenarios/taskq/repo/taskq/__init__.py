"""Run named tasks in dependency and priority order."""

from taskq.queue import CycleError, TaskQueue
from taskq.task import Task

__all__ = ["CycleError", "Task", "TaskQueue"]
