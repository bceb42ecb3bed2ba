import pytest

from semver import Version, compare, parse


def test_parse():
    assert parse("1.4.2") == Version(1, 4, 2)
    assert str(parse("2.0.0-rc.1")) == "2.0.0-rc.1"


def test_parse_rejects_garbage():
    with pytest.raises(ValueError):
        parse("1.4")


def test_compare_is_three_way():
    assert compare(parse("1.2.0"), parse("1.10.0")) == -1
    assert compare(parse("1.0.0"), parse("1.0.0-rc.1")) == 1
    assert compare(parse("3.1.4"), parse("3.1.4")) == 0
