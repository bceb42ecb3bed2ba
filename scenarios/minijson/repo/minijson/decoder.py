import re

_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class JSONError(ValueError):
    pass


def _join_surrogates(text):
    """Combine surrogate pairs (from two \\u escapes) into single characters."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


class _Reader:
    def __init__(self, text):
        self.text = text
        self.pos = 0

    def skip(self):
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def expect(self, literal):
        if not self.text.startswith(literal, self.pos):
            raise JSONError(f"expected {literal!r} at {self.pos}")
        self.pos += len(literal)

    def value(self):
        self.skip()
        ch = self.text[self.pos : self.pos + 1]
        if ch == "{":
            return self.obj()
        if ch == "[":
            return self.array()
        if ch == '"':
            return self.string()
        for literal, result in (("null", None), ("true", True), ("false", False)):
            if self.text.startswith(literal, self.pos):
                self.pos += len(literal)
                return result
        match = _NUMBER.match(self.text, self.pos)
        if not match:
            raise JSONError(f"unexpected {ch or 'end of input'!r} at {self.pos}")
        self.pos = match.end()
        return float(match[0]) if match[2] or match[3] else int(match[0])

    def string(self):
        self.expect('"')
        out = []
        while True:
            ch = self.text[self.pos : self.pos + 1]
            if not ch:
                raise JSONError("unterminated string")
            self.pos += 1
            if ch == '"':
                return _join_surrogates("".join(out))
            if ch != "\\":
                out.append(ch)
                continue
            esc = self.text[self.pos : self.pos + 1]
            self.pos += 1
            if esc == "u":
                out.append(chr(int(self.text[self.pos : self.pos + 4], 16)))
                self.pos += 4
            elif esc in _ESCAPES:
                out.append(_ESCAPES[esc])
            else:
                raise JSONError(f"bad escape \\{esc} at {self.pos - 1}")

    def array(self):
        self.expect("[")
        items = []
        self.skip()
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return items
        while True:
            items.append(self.value())
            self.skip()
            if self.text.startswith("]", self.pos):
                self.pos += 1
                return items
            self.expect(",")

    def obj(self):
        self.expect("{")
        result = {}
        self.skip()
        if self.text.startswith("}", self.pos):
            self.pos += 1
            return result
        while True:
            self.skip()
            key = self.string()
            self.skip()
            self.expect(":")
            result[key] = self.value()
            self.skip()
            if self.text.startswith("}", self.pos):
                self.pos += 1
                return result
            self.expect(",")


def loads(text):
    """Parse JSON text into dicts, lists, strings, numbers, booleans and None."""
    reader = _Reader(text)
    value = reader.value()
    reader.skip()
    if reader.pos != len(text):
        raise JSONError(f"extra data at {reader.pos}")
    return value
