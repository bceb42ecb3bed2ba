import pytest

from textdiff import PatchError, diff, patch

OLD = ["one", "two", "three", "four", "five"]
NEW = ["zero", "one", "2", "three", "five", "six"]


def test_patch_hand_written_hunk():
    assert patch(["a", "b", "c"], "@@ -2,1 +2,1 @@\n-b\n+B\n") == ["a", "B", "c"]


def test_patch_rejects_mismatch():
    with pytest.raises(PatchError, match="does not match"):
        patch(["a", "x", "c"], "@@ -2,1 +2,1 @@\n-b\n+B\n")


def test_roundtrip():
    assert patch(OLD, diff(OLD, NEW)) == NEW
