def render(rows):
    """One line per entry: rank, name, score, time; columns aligned."""
    if not rows:
        return ""
    name_w = max(len(e.name) for _, e in rows)
    score_w = max(len(str(e.score)) for _, e in rows)
    lines = [
        f"{rank}  {e.name:<{name_w}}  {e.score:>{score_w}}  {e.seconds}s"
        for rank, e in rows
    ]
    return "\n".join(lines)
