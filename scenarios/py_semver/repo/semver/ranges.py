import functools

from semver.version import compare, parse


def _check(version, op, target):
    if op == "==":
        return compare(version, target) == 0
    if op == "<":
        return compare(version, target)
    if op == ">=":
        return not compare(version, target)
    if op == "^":
        return compare(version, target) >= 0 and version.major == target.major
    raise ValueError(f"unknown operator {op!r}")


def satisfies(version_text, constraint):
    constraint = constraint.strip()
    for op in ("==", ">=", "<", "^"):
        if constraint.startswith(op):
            return _check(parse(version_text), op, parse(constraint[len(op):]))
    raise ValueError(f"bad constraint {constraint!r}")


def newest(versions, constraints):
    """The highest version satisfying every constraint, or None."""
    ok = [parse(v) for v in versions if all(satisfies(v, c) for c in constraints)]
    if not ok:
        return None
    return str(max(ok, key=functools.cmp_to_key(compare)))
