import pytest

from taskq import CycleError, Task, TaskQueue


def test_dependencies_run_first():
    build = Task("build", priority=1)
    test = Task("test", priority=5).require(build)
    assert TaskQueue([test, build]).run_order() == ["build", "test"]


def test_independent_tasks_by_priority():
    tasks = [Task("docs"), Task("compile", priority=2), Task("lint", priority=1)]
    assert TaskQueue(tasks).run_order() == ["compile", "lint", "docs"]


def test_cycle_detected():
    a = Task("a", after=["b"])
    b = Task("b", after=["a"])
    with pytest.raises(CycleError, match="'a', 'b'"):
        TaskQueue([a, b]).run_order()


def test_unknown_dependency():
    with pytest.raises(ValueError, match="unknown task 'ghost'"):
        TaskQueue([Task("a", after=["ghost"])]).run_order()


def test_duplicate_name_rejected():
    queue = TaskQueue([Task("x", after=["y"])])
    with pytest.raises(ValueError):
        queue.add(Task("x", after=["z"]))
