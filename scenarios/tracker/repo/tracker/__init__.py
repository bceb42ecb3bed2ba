"""Track hours per project and bill them."""

from tracker.durations import parse_duration
from tracker.timesheet import Timesheet

__all__ = ["Timesheet", "parse_duration"]
