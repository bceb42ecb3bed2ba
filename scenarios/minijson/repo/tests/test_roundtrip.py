import pytest

from minijson import JSONError, dumps, loads


def test_decodes_nested_values():
    assert loads('{"n": [1, 2.5, null, true], "s": "a\\tb"}') == {"n": [1, 2.5, None, True], "s": "a\tb"}


def test_decodes_surrogate_pair():
    assert loads('"\\ud83d\\ude00"') == "😀"


@pytest.mark.parametrize("value", ["plain", "naïve", "日本語", "rocket 🚀 launch"])
def test_roundtrip_strings(value):
    assert loads(dumps(value)) == value


def test_rejects_trailing_data():
    with pytest.raises(JSONError):
        loads("[1] 2")
