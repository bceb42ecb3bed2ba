import pytest

from contacts import Contact, MissingColumn, import_contacts

TEXT = "name;city;score\nAna;Porto;3\nJosé;Málaga;\n"


def test_import_semicolon_file():
    assert import_contacts(TEXT.encode("utf-8")) == [
        Contact("Ana", "Porto", 3),
        Contact("José", "Málaga", 0),
    ]


def test_missing_column():
    with pytest.raises(MissingColumn, match="missing column 'city'"):
        import_contacts(b"name,town\nAna,Porto\n")


def test_import_spreadsheet_export():
    data = b"\xef\xbb\xbf" + TEXT.encode("utf-8")
    assert [c.name for c in import_contacts(data)] == ["Ana", "José"]
