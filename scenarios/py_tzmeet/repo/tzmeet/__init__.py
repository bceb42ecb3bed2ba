"""Meeting windows across time zones, in minutes since midnight."""

from tzmeet.clock import Stamp, format_utc, parse_stamp
from tzmeet.slots import Slot, common_window, overlap

__all__ = ["Slot", "Stamp", "common_window", "format_utc", "overlap", "parse_stamp"]
