import pytest

from minijson import dumps


def test_scalars():
    assert dumps([None, True, False, 3, 2.5]) == "[null, true, false, 3, 2.5]"


def test_object_and_escapes():
    assert dumps({"a": 'say "hi"\n'}) == '{"a": "say \\"hi\\"\\n"}'


def test_non_ascii_in_bmp_is_escaped():
    assert dumps("café") == '"caf\\u00e9"'


def test_non_ascii_kept_when_asked():
    assert dumps("café 😀", ascii_only=False) == '"café 😀"'


def test_emoji_is_escaped_as_surrogate_pair():
    assert dumps("ok 😀") == '"ok \\ud83d\\ude00"'


def test_unsupported_type():
    with pytest.raises(TypeError):
        dumps({1, 2})
