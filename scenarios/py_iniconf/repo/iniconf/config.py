from iniconf.parser import interpolate, parse

_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}


class ConfigError(Exception):
    pass


class Config:
    def __init__(self, sections):
        self._sections = sections

    def __repr__(self):
        return f"Config(sections={sorted(self._sections)})"

    def get(self, section, key, default=None):
        return self._sections.get(section, {}).get(key, default)

    def getint(self, section, key, default=0):
        value = self.get(section, key)
        return default if value is None else int(value)

    def getbool(self, section, key, default=False):
        value = self.get(section, key)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"{section}.{key}: not a boolean: {value!r}")


def load(text):
    try:
        return Config(interpolate(parse(text)))
    except (KeyError, ValueError) as exc:
        raise ConfigError(str(exc).strip("'\"")) from None
