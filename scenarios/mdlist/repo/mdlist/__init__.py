"""Markdown bullet lists to HTML."""

from mdlist.parse import Item, parse
from mdlist.render import render

__all__ = ["Item", "parse", "render"]
