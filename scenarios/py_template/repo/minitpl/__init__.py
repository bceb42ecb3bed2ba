"""A minimal templating engine with dotted lookups and filters."""

from minitpl.engine import Template, TemplateError
from minitpl.filters import FILTERS

__all__ = ["FILTERS", "Template", "TemplateError"]
