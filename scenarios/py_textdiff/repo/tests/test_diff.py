from textdiff import diff


def test_identical_files_give_no_hunks():
    assert diff(["a", "b"], ["a", "b"]) == ""


def test_changed_line():
    assert diff(["a", "b", "c"], ["a", "B", "c"]) == "@@ -2,1 +2,1 @@\n-b\n+B\n"


def test_deleted_first_line():
    assert diff(["a", "b"], ["b"]) == "@@ -1,1 +0,0 @@\n-a\n"


def test_appended_line():
    assert diff(["a"], ["a", "b"]) == "@@ -1,0 +2,1 @@\n+b\n"
