from ledger import Ledger, split_evenly


def test_even_split():
    assert split_evenly(900, ["a", "b", "c"]) == {"a": 300, "b": 300, "c": 300}


def test_uneven_split_keeps_every_cent():
    assert split_evenly(1000, ["a", "b", "c"]) == {"a": 334, "b": 333, "c": 333}


def test_balances_add_up_to_zero():
    book = Ledger()
    book.add_expense("ana", 1000, ["ana", "ben", "cy"])
    book.add_expense("ben", 500, ["ben", "cy"])
    total = sum(book.balances().values())
    assert total == 0


def test_report():
    book = Ledger()
    book.add_expense("ana", 1000, ["ana", "ben", "cy"])
    assert book.report() == ["ana: 6.66", "ben: -3.33", "cy: -3.33"]
