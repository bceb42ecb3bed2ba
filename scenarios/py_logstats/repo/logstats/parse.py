import re
from typing import NamedTuple

_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR)\s+([\w.-]+):\s*(.*)$")


class Record(NamedTuple):
    level: str
    source: str
    message: str


def parse_lines(lines):
    """Yield a Record for every well-formed line; skip the others."""
    for line in lines:
        m = _LINE.match(line.strip())
        if m:
            yield Record(*m.groups())
