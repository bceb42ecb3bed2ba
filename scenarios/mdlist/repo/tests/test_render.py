import pytest

from mdlist import parse, render


def test_nested_list():
    assert render("- one\n  - one.a\n* two") == "\n".join(
        [
            "<ul>",
            "  <li>one",
            "    <ul>",
            "      <li>one.a</li>",
            "    </ul>",
            "  </li>",
            "  <li>two</li>",
            "</ul>",
        ]
    )


def test_empty_source():
    assert render("\n\n") == ""


def test_rejects_deep_jump():
    with pytest.raises(ValueError, match="line 2"):
        parse("- a\n    - too deep")


def test_item_with_markup_is_escaped():
    assert render("- use a < b") == "<ul>\n  <li>use a &lt; b</li>\n</ul>"
