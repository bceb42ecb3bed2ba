"""Shared expenses in integer cents."""

from ledger.book import Ledger
from ledger.money import format_cents, parse_amount
from ledger.split import split_evenly

__all__ = ["Ledger", "format_cents", "parse_amount", "split_evenly"]
