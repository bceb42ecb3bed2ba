import re

_PART = re.compile(r"(\d+(?:\.\d+)?)([hm])")


def parse_duration(text):
    """Hours in a duration such as "1h30m", "45m" or "2.5h"."""
    text = text.replace(" ", "").lower()
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"bad duration: {text!r}")
    hours = 0.0
    for number, unit in parts:
        hours += float(number) if unit == "h" else float(number) / 60
    return hours
