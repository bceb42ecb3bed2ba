"""A minimal JSON encoder and decoder."""

from minijson.decoder import JSONError, loads
from minijson.encoder import dumps

__all__ = ["JSONError", "dumps", "loads"]
