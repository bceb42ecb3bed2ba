"""Summaries of `LEVEL source: message` log lines."""

from logstats.parse import Record, parse_lines
from logstats.report import Summary, render, summarize

__all__ = ["Record", "Summary", "parse_lines", "render", "summarize"]
