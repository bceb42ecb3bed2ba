from inventory import Item, load_csv

CSV = "sku,name,qty,reorder_at\nA1, bolts ,40,10\nB2,nuts,5,5\n"


def test_load_csv():
    assert load_csv(CSV) == [Item("A1", "bolts", 40, 10), Item("B2", "nuts", 5, 5)]


def test_empty_file_has_no_items():
    assert load_csv("sku,name,qty,reorder_at\n") == []
