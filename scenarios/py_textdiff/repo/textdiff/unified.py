from difflib import SequenceMatcher


def _range(start, count):
    """Header range for lines [start, start + count) given 0-based `start`."""
    return f"{start},{count}"


def diff(old, new):
    """Hunks turning the list of lines `old` into `new`, as one string."""
    out = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        out.append(f"@@ -{_range(i1, i2 - i1)} +{_range(j1, j2 - j1)} @@\n")
        out.extend(f"-{line}\n" for line in old[i1:i2])
        out.extend(f"+{line}\n" for line in new[j1:j2])
    return "".join(out)
