import csv
import io
from dataclasses import dataclass


@dataclass
class Item:
    sku: str
    name: str
    qty: int
    reorder_at: int


def load_csv(text):
    """Items from CSV text with the header `sku,name,qty,reorder_at`."""
    items = []
    for row in csv.DictReader(io.StringIO(text)):
        items.append(Item(row["sku"].strip(), row["name"].strip(), int(row["qty"]), int(row["reorder_at"])))
    return items
