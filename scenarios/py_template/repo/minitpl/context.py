def resolve(context, dotted):
    """Look up `a.b.c` in nested dicts and attributes; KeyError if any part is missing."""
    value = context
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif not isinstance(value, dict) and hasattr(value, part):
            value = getattr(value, part)
        else:
            raise KeyError(dotted)
    return value
