"""INI-style configuration with ${section.key} references."""

from iniconf.config import Config, ConfigError, load
from iniconf.parser import parse

__all__ = ["Config", "ConfigError", "load", "parse"]
