import pytest

from debug_stack import parse_traceback

LOG = """\
INFO starting worker
Traceback (most recent call last):
  File "app/main.py", line 14, in run
    handle(request)
  File "app/handlers.py", line 31, in handle
    total = price / quantity
ZeroDivisionError: division by zero
INFO worker stopped
"""


def test_parses_frames_and_exception():
    trace = parse_traceback(LOG)
    assert [f.function for f in trace.frames] == ["run", "handle"]
    assert trace.frames[1].line == "total = price / quantity"
    assert trace.exc_type == "ZeroDivisionError"
    assert trace.message == "division by zero"


def test_frame_without_source_line_is_kept():
    text = (
        "Traceback (most recent call last):\n"
        '  File "<stdin>", line 1, in <module>\n'
        "KeyError: 'name'\n"
    )
    trace = parse_traceback(text)
    assert trace.frames[0].line is None
    assert trace.exc_type == "KeyError"


def test_no_traceback():
    with pytest.raises(ValueError, match="no traceback"):
        parse_traceback("all good\n")
