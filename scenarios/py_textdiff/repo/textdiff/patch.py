import re

_HEADER = re.compile(r"^@@ -(\d+),(\d+) \+(\d+),(\d+) @@$")


class PatchError(Exception):
    pass


def _hunks(text):
    hunk = None
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            hunk = [int(g) for g in m.groups()] + [[], []]
            yield hunk
        elif hunk is not None and line[:1] in "-+":
            hunk[4 if line[0] == "-" else 5].append(line[1:])
        else:
            raise PatchError(f"unexpected line {line!r}")


def patch(lines, text):
    """Apply a diff made by `diff` to `lines` and return the new list of lines."""
    result, offset = list(lines), 0
    for old_start, old_count, _, _, removed, added in list(_hunks(text)):
        at = (old_start - 1 if old_count else old_start) + offset
        if result[at:at + old_count] != removed:
            raise PatchError(f"hunk at line {old_start} does not match")
        result[at:at + old_count] = added
        offset += len(added) - old_count
    return result
