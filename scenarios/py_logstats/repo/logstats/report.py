from collections import Counter
from dataclasses import dataclass, field

from logstats.parse import parse_lines


@dataclass
class Summary:
    levels: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    busiest: str = ""


def summarize(lines):
    records = parse_lines(lines)
    levels = Counter(r.level for r in records)
    errors = [f"{r.source}: {r.message}" for r in records if r.level == "ERROR"]
    sources = Counter(r.source for r in records)
    busiest = min(sources, key=lambda s: (-sources[s], s)) if sources else ""
    return Summary(dict(levels), errors, busiest)


def render(summary):
    out = [f"{level}: {count}" for level, count in sorted(summary.levels.items())]
    out += [f"  ! {e}" for e in summary.errors]
    if summary.busiest:
        out.append(f"busiest: {summary.busiest}")
    return "\n".join(out)
