from dataclasses import dataclass

from contacts.reader import read_rows

REQUIRED = ("name", "city")


class MissingColumn(ValueError):
    pass


@dataclass
class Contact:
    name: str
    city: str
    score: int = 0


def import_contacts(data):
    header, rows = read_rows(data)
    for column in REQUIRED:
        if column not in header:
            raise MissingColumn(f"missing column {column!r} (found {header})")
    contacts = []
    for row in rows:
        score = row.get("score") or "0"
        contacts.append(Contact(row["name"].strip(), row["city"].strip(), int(score)))
    return contacts
