from mdlist.escape import escape_html
from mdlist.parse import parse


def _render_items(items, depth):
    pad = "  " * depth
    lines = [f"{pad}<ul>"]
    for item in items:
        if item.children:
            lines.append(f"{pad}  <li>{escape_html(item.text)}")
            lines.extend(_render_items(item.children, depth + 2))
            lines.append(f"{pad}  </li>")
        else:
            lines.append(f"{pad}  <li>{escape_html(item.text)}</li>")
    lines.append(f"{pad}</ul>")
    return lines


def render(source):
    """Render a Markdown bullet list as indented HTML."""
    items = parse(source)
    return "\n".join(_render_items(items, 0)) if items else ""
