from contacts.reader import detect_delimiter, read_rows


def test_detect_delimiter():
    assert detect_delimiter("name;city;score") == ";"
    assert detect_delimiter("name,city") == ","


def test_blank_lines_are_skipped():
    header, rows = read_rows(b"name,city\nAna,Porto\n\n,\n")
    assert header == ["name", "city"]
    assert rows == [{"name": "Ana", "city": "Porto"}]


def test_header_of_file_with_byte_order_mark():
    header, _ = read_rows(b"\xef\xbb\xbfname,city\nAna,Porto\n")
    assert header == ["name", "city"]
