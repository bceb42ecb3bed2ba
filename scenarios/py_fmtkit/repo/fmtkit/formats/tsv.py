def _cell(value):
    return str(value).replace("\t", " ").replace("\n", " ")


def render(rows):
    if not rows:
        return ""
    columns = list(rows[0])
    lines = ["\t".join(columns)]
    lines += ["\t".join(_cell(row.get(c, "")) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"
