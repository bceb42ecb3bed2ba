import pytest

from tzmeet import Stamp, format_utc, parse_stamp


def test_parse_stamp():
    assert parse_stamp("09:30+02:00") == Stamp(570, 120)
    assert parse_stamp("08:00-05:30").utc == 480 + 330


def test_parse_rejects_missing_offset():
    with pytest.raises(ValueError):
        parse_stamp("09:30")


def test_format_utc():
    assert format_utc(7 * 60 + 5) == "07:05"
