from debug_stack import Frame, Trace, parse_traceback, summarize

FROZEN = """\
Traceback (most recent call last):
  File "app/plugins.py", line 8, in load
    module = importlib.import_module(name)
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "plugins/broken.py", line 2, in <module>
    import missing_dependency
ModuleNotFoundError: No module named 'missing_dependency'
"""


def test_summary_lists_frames_innermost_last():
    trace = Trace(
        frames=[
            Frame("app/main.py", 14, "run", "handle(request)"),
            Frame("app/handlers.py", 31, "handle", "total = price / quantity"),
        ],
        exc_type="ZeroDivisionError",
        message="division by zero",
    )
    assert summarize(trace).splitlines() == [
        "app/main.py:14 in run",
        "    > handle(request)",
        "app/handlers.py:31 in handle",
        "    > total = price / quantity",
        "ZeroDivisionError: division by zero",
    ]


def test_summary_hides_earlier_frames():
    frames = [Frame(f"pkg/mod{i}.py", i, f"f{i}", "pass") for i in range(7)]
    summary = summarize(Trace(frames=frames, exc_type="RuntimeError"), limit=2)
    assert summary.startswith("... 5 earlier frame(s)\npkg/mod5.py:5 in f5")


def test_summary_with_frame_without_source_line():
    summary = summarize(parse_traceback(FROZEN))
    assert summary.splitlines() == [
        "app/plugins.py:8 in load",
        "    > module = importlib.import_module(name)",
        "<frozen importlib._bootstrap>:1204 in _gcd_import",
        "plugins/broken.py:2 in <module>",
        "    > import missing_dependency",
        "ModuleNotFoundError: No module named 'missing_dependency'",
    ]
