import pytest

from tracker import parse_duration


@pytest.mark.parametrize(("text", "hours"), [("1h30m", 1.5), ("45m", 0.75), ("2.5h", 2.5), ("1h 15m", 1.25)])
def test_parse(text, hours):
    assert parse_duration(text) == hours


def test_rejects_garbage():
    with pytest.raises(ValueError):
        parse_duration("soon")
