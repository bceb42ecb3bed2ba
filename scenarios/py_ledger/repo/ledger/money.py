def parse_amount(text):
    """'12.5' or '12.50' -> 1250 cents."""
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("+-").partition(".")
    if len(frac) > 2 or not (whole or frac):
        raise ValueError(f"not an amount: {text!r}")
    return sign * (int(whole or "0") * 100 + int(frac.ljust(2, "0") or "0"))


def format_cents(cents):
    """1250 -> '12.50', -5 -> '-0.05'."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"
