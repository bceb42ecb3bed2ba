_REPLACEMENTS = [
    ("<", "&lt;"),
    (">", "&gt;"),
    ("&", "&amp;"),
    ('"', "&quot;"),
]


def escape_html(text):
    """Escape text for use inside HTML elements and attribute values."""
    for raw, entity in _REPLACEMENTS:
        text = text.replace(raw, entity)
    return text
