import pytest

from iniconf import parse


def test_sections_and_comments():
    text = "# top\n[a]\nx = 1\n; note\n[b]\ny=two words\n"
    assert parse(text) == {"a": {"x": "1"}, "b": {"y": "two words"}}


def test_bad_line_is_reported():
    with pytest.raises(ValueError, match="line 2"):
        parse("[a]\nnonsense\n")
