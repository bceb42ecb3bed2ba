import pytest

from fmtkit import UnknownFormat, available, get_formatter, render

ROWS = [{"id": 1, "name": "bolt"}, {"id": 12, "name": "nut"}]


def test_available():
    assert available() == ["json", "table", "tsv"]


def test_json():
    assert render(ROWS[:1], "json") == '[{"id": 1, "name": "bolt"}]\n'


def test_unknown_format():
    with pytest.raises(UnknownFormat, match="unknown format 'xml'"):
        get_formatter("xml")


def test_tsv():
    assert render(ROWS, "tsv") == "id\tname\n1\tbolt\n12\tnut\n"


def test_table():
    assert render(ROWS, "table") == "id | name\n---+-----\n 1 | bolt\n12 | nut\n"
