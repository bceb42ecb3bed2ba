"""Parse and summarise Python tracebacks found in logs."""

from debug_stack.model import Frame, Trace
from debug_stack.parser import parse_traceback
from debug_stack.render import summarize

__all__ = ["Frame", "Trace", "parse_traceback", "summarize"]
