from taskq import Task


def test_require_records_dependency():
    build = Task("build")
    deploy = Task("deploy").require(build)
    assert deploy.after == ["build"]


def test_require_is_idempotent():
    lint = Task("lint")
    check = Task("check", after=["fmt"]).require(lint).require(lint)
    assert check.after == ["fmt", "lint"]


def test_new_task_has_no_dependencies():
    assert Task("fresh").after == []
