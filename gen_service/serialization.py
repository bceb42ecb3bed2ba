"""The one place that turns Python values into JSON bytes and back (orjson).

Invariant: `canonical_json` is byte-stable for equal values (sorted keys, no whitespace), so it can
feed content hashes and duplicate keys.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["JSONDecodeError", "canonical_json", "dumps", "dumps_str", "loads"]

JSONDecodeError = orjson.JSONDecodeError


def dumps(value: Any) -> bytes:
    """Serialize to compact JSON bytes (UTF-8, no NaN: orjson writes null for it)."""
    return orjson.dumps(value)


def dumps_str(value: Any) -> str:
    return orjson.dumps(value).decode()


def canonical_json(value: Any) -> bytes:
    """Serialize with sorted keys: equal values give equal bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises JSONDecodeError (a ValueError) on bad input."""
    return orjson.loads(data)
