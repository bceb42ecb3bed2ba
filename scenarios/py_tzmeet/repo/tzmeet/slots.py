from dataclasses import dataclass

from tzmeet.clock import Stamp, format_utc, parse_stamp


@dataclass(frozen=True)
class Slot:
    start: Stamp
    end: Stamp

    @classmethod
    def parse(cls, start, end):
        return cls(parse_stamp(start), parse_stamp(end))


def overlap(a, b):
    """(start, end) of the time both slots cover, or None."""
    start = max(a.start.minutes, b.start.minutes)
    end = min(a.end.minutes, b.end.minutes)
    return (start, end) if start < end else None


def common_window(slots):
    """The window everyone is free, as 'HH:MM-HH:MM UTC', or None."""
    start, end = slots[0].start.utc, slots[0].end.utc
    for slot in slots[1:]:
        window = overlap(Slot(Stamp(start, 0), Stamp(end, 0)), slot)
        if window is None:
            return None
        start, end = window
    return f"{format_utc(start)}-{format_utc(end)} UTC"
