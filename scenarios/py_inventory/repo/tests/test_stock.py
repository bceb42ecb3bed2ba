import pytest

from inventory import Inventory, OutOfStock, load_csv

CSV = "sku,name,qty,reorder_at\nA1,bolts,40,10\nB2,nuts,5,5\nC3,washers,2,8\n"


def make():
    return Inventory(load_csv(CSV))


def test_sell_and_restock():
    stock = make()
    stock.sell("A1", 15)
    stock.restock("A1", 5)
    assert stock.get("A1").qty == 30


def test_cannot_oversell():
    with pytest.raises(OutOfStock, match="want 3, have 2"):
        make().sell("C3", 3)


def test_item_at_reorder_point_is_reordered():
    stock = make()
    assert stock.needs_reorder(stock.get("B2"))


def test_reorder_report():
    stock = make()
    stock.sell("A1", 30)
    assert stock.reorder_report() == [
        "A1 bolts: 10 left (reorder at 10)",
        "B2 nuts: 5 left (reorder at 5)",
        "C3 washers: 2 left (reorder at 8)",
    ]
