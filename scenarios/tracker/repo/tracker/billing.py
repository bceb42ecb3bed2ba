def to_cents(amount):
    """An amount of money in whole cents."""
    return int(amount * 100)


def line_total(hours, rate):
    """What `hours` of work cost at `rate` per hour, in cents."""
    return to_cents(hours * rate)
