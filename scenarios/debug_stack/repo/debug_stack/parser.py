import re

from debug_stack.model import Frame, Trace

HEADER = "Traceback (most recent call last):"
FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)$')
EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$")


def parse_traceback(text):
    """Parse the first traceback found in `text`. Raises ValueError when there is none."""
    lines = text.splitlines()
    try:
        start = lines.index(HEADER)
    except ValueError:
        raise ValueError("no traceback found") from None
    trace = Trace()
    i = start + 1
    while i < len(lines):
        match = FRAME.match(lines[i])
        if match:
            source = None
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if nxt.startswith("    "):
                source = nxt.strip()
                i += 1
            trace.frames.append(
                Frame(match["file"], int(match["line"]), match["func"], source)
            )
            i += 1
            continue
        exc = EXCEPTION.match(lines[i])
        if exc:
            trace.exc_type = exc["type"]
            trace.message = exc["msg"] or ""
        break
    return trace
