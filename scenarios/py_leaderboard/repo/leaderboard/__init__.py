"""Contest standings: ranking and a plain-text table."""

from leaderboard.board import Entry, standings
from leaderboard.table import render

__all__ = ["Entry", "render", "standings"]
