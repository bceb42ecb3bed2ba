import re

_REF = re.compile(r"\$\{(\w+)\.(\w+)\}")


def parse(text):
    """{section: {key: raw value}} from INI text."""
    sections, current = {}, None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
        elif "=" in line and current is not None:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
        else:
            raise ValueError(f"line {number}: cannot parse {raw!r}")
    return sections


def interpolate(sections):
    """Replace ${section.key} in every value (one level: references are not chained)."""
    result = {}
    for section, values in sections.items():
        out = result[section] = {}
        for key, value in values.items():
            for ref_section, ref_key in _REF.findall(value):
                try:
                    target = sections[ref_section][ref_key]
                except KeyError:
                    raise KeyError(f"{section}.{key}: unknown reference {ref_section}.{ref_key}") from None
                value = value.replace(f"${{{ref_section}.{ref_key}}}", target)
            out[key] = value
    return result
