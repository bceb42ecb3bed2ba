import re

_PARAM = re.compile(r"<(\w+)(?::(int|str))?>")
_CONVERTERS = {"int": (r"\d+", int), "str": (r"[^/]+", str)}


class Route:
    """One pattern such as `/users/<id:int>/posts/<slug>` bound to a handler."""

    def __init__(self, method, pattern, handler):
        self.method = method.upper()
        self.pattern = pattern
        self.handler = handler
        self._converters = {}
        regex, pos = "", 0
        for m in _PARAM.finditer(pattern):
            regex += re.escape(pattern[pos:m.start()])
            name, kind = m.group(1), m.group(2) or "str"
            part, convert = _CONVERTERS[kind]
            regex += f"(?P<{name}>{part})"
            self._converters[name] = convert
            pos = m.end()
        regex += re.escape(pattern[pos:])
        self._regex = re.compile("^" + regex + "$")

    def __repr__(self):
        return f"Route({self.method} {self.pattern})"

    def match(self, method, path):
        """The converted parameters if this route serves the request, else None."""
        if method.upper() != self.method:
            return None
        m = self._regex.match(path)
        if m is None:
            return None
        return {name: self._converters[name](value) for name, value in m.groupdict().items()}
