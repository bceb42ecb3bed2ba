import re
from dataclasses import dataclass

_STAMP = re.compile(r"^(\d\d):(\d\d)([+-])(\d\d):(\d\d)$")


@dataclass(frozen=True)
class Stamp:
    """A local time of day and the UTC offset it is in, both in minutes."""

    minutes: int
    offset: int

    @property
    def utc(self):
        return self.minutes - self.offset


def parse_stamp(text):
    m = _STAMP.match(text)
    if m is None:
        raise ValueError(f"expected HH:MM+HH:MM, got {text!r}")
    hh, mm, sign, oh, om = m.groups()
    offset = int(oh) * 60 + int(om)
    return Stamp(int(hh) * 60 + int(mm), -offset if sign == "-" else offset)


def format_utc(minutes):
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"
