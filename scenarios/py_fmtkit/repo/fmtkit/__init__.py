"""Render records as json, tsv or an aligned text table."""

from fmtkit.registry import UnknownFormat, available, get_formatter, render

__all__ = ["UnknownFormat", "available", "get_formatter", "render"]
