import pytest

from semver import newest, satisfies


def test_equal_versions():
    assert satisfies("1.0.0", "==1.0.0")
    assert satisfies("1.2.0", ">=1.2.0")
    assert not satisfies("2.0.0", "<2.0.0")


def test_less_than():
    assert satisfies("1.9.9", "<2.0.0")
    assert not satisfies("2.1.0", "<2.0.0")


def test_at_least():
    assert satisfies("1.5.0", ">=1.2.0")
    assert not satisfies("1.1.9", ">=1.2.0")


def test_caret():
    assert satisfies("1.7.0", "^1.4.0")
    assert not satisfies("2.0.0", "^1.4.0")


def test_newest():
    versions = ["1.2.0", "1.9.1", "2.0.0", "1.10.0-rc.1"]
    assert newest(versions, [">=1.2.0", "<2.0.0"]) == "1.10.0-rc.1"
    assert newest(versions, ["==3.0.0"]) is None


def test_bad_constraint():
    with pytest.raises(ValueError, match="bad constraint"):
        satisfies("1.0.0", "~1.0.0")
