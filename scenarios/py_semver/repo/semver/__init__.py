"""Versions, constraints, and picking the newest matching version."""

from semver.ranges import newest, satisfies
from semver.version import Version, compare, parse

__all__ = ["Version", "compare", "newest", "parse", "satisfies"]
