import re
from typing import NamedTuple

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.]+))?$")


class Version(NamedTuple):
    major: int
    minor: int
    patch: int
    pre: str = ""

    def __str__(self):
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{self.pre}" if self.pre else core


def parse(text):
    m = _VERSION.match(text.strip())
    if m is None:
        raise ValueError(f"not a version: {text!r}")
    major, minor, patch, pre = m.groups()
    return Version(int(major), int(minor), int(patch), pre or "")


def _key(v):
    # a pre-release sorts before its release: 1.0.0-rc.1 < 1.0.0
    return (v.major, v.minor, v.patch, v.pre == "", v.pre)


def compare(a, b):
    """-1 if a < b, 0 if equal, 1 if a > b (changed in 0.3.0: used to return a < b)."""
    ka, kb = _key(a), _key(b)
    return (ka > kb) - (ka < kb)
