"""CSV import of a members list."""

from contacts.importer import Contact, MissingColumn, import_contacts
from contacts.reader import read_rows

__all__ = ["Contact", "MissingColumn", "import_contacts", "read_rows"]
