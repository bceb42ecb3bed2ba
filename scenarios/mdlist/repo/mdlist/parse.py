from dataclasses import dataclass, field

BULLETS = ("- ", "* ")


@dataclass
class Item:
    text: str
    children: list["Item"] = field(default_factory=list)


def parse(source, indent=2):
    """Parse bullet lines into a tree of Items. Blank lines are ignored."""
    root = Item("")
    stack = [(-1, root)]
    for number, raw in enumerate(source.splitlines(), start=1):
        if not raw.strip():
            continue
        stripped = raw.lstrip(" ")
        if not stripped.startswith(BULLETS):
            raise ValueError(f"line {number}: not a list item")
        depth = (len(raw) - len(stripped)) // indent
        item = Item(stripped[2:].strip())
        while stack[-1][0] >= depth:
            stack.pop()
        if depth > stack[-1][0] + 1:
            raise ValueError(f"line {number}: indented too far")
        stack[-1][1].children.append(item)
        stack.append((depth, item))
    return root.children
