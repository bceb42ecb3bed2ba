from tracker import Timesheet
from tracker.billing import line_total, to_cents


def test_whole_amounts():
    assert to_cents(12.5) == 1250
    assert line_total(2.0, 40.0) == 8000


def test_amount_not_exact_in_binary():
    assert to_cents(1.15) == 115
    assert line_total(0.7, 45.0) == 3150


def test_invoice_lines():
    sheet = Timesheet(rate=40.0)
    sheet.log("website", "1h30m")
    sheet.log("website", "45m")
    sheet.log("api", "42m")
    assert sheet.invoice_lines() == [("api", 0.7, 2800), ("website", 2.25, 9000)]


def test_invoice_total_at_odd_rate():
    sheet = Timesheet(rate=45.0)
    sheet.log("api", "42m")
    sheet.log("docs", "1h")
    assert sheet.invoice_total() == 3150 + 4500
