def _truncate(value, length=10):
    text = str(value)
    return text if len(text) <= length else text[: length - 1] + "…"


FILTERS = {
    "upper": str.upper,
    "lower": str.lower,
    "title": str.title,
    "strip": str.strip,
    "truncate": _truncate,
}
