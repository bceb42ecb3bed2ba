import importlib
import json

PLUGINS = ("table", "tsv")


class UnknownFormat(LookupError):
    pass


def _json(rows):
    return json.dumps(rows, sort_keys=True) + "\n"


def available():
    return sorted(("json",) + PLUGINS)


def get_formatter(name):
    """The `render(rows)` function of format `name`."""
    if name == "json":
        return _json
    if name not in PLUGINS:
        raise UnknownFormat(f"unknown format {name!r}")
    try:
        module = importlib.import_module(f"formats.{name}")
    except ModuleNotFoundError:
        raise UnknownFormat(f"unknown format {name!r}") from None
    return module.render


def render(rows, name):
    return get_formatter(name)(rows)
