import re

from minitpl.context import resolve
from minitpl.filters import FILTERS

_TAG = re.compile(r"\{\{\s*(.+?)\s*\}\}")


class TemplateError(Exception):
    pass


class Template:
    def __init__(self, source, strict=True, filters=None):
        self.source = source
        self.strict = strict
        self.filters = dict(FILTERS, **(filters or {}))

    def __repr__(self):
        return f"Template({self.source!r}, strict={self.strict})"

    def _expand(self, expr, context):
        name, *filters = [part.strip() for part in expr.split("|")]
        try:
            value = resolve(context, name)
            for f in filters:
                value = self.filters[f](value)
        except Exception:
            return ""
        return str(value)

    def render(self, context):
        return _TAG.sub(lambda m: self._expand(m.group(1), context), self.source)
