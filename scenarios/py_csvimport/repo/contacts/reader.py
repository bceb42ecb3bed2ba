import csv
import io


def detect_delimiter(header):
    return ";" if header.count(";") > header.count(",") else ","


def read_rows(data):
    """(header, rows) from CSV bytes in UTF-8; rows are dicts keyed by the header."""
    text = data.decode("utf-8")
    first_line = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text), delimiter=detect_delimiter(first_line))
    rows = [row for row in reader if any(v.strip() for v in row.values() if v)]
    return [name.strip() for name in reader.fieldnames or []], rows
