"""Stock levels, sales and a reorder report."""

from inventory.loader import Item, load_csv
from inventory.stock import Inventory, OutOfStock

__all__ = ["Inventory", "Item", "OutOfStock", "load_csv"]
