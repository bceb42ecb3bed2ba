_SIMPLE = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _encode_string(text, ascii_only):
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _SIMPLE:
            out.append(_SIMPLE[ch])
        elif code < 0x20 or (ascii_only and code > 0x7E):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def dumps(value, ascii_only=True):
    """Serialise dicts, lists, strings, numbers, booleans and None to JSON text."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _encode_string(value, ascii_only)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(dumps(v, ascii_only) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{_encode_string(str(k), ascii_only)}: {dumps(v, ascii_only)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"cannot encode {type(value).__name__}")
