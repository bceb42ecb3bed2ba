def split_evenly(total, names):
    """Share `total` cents among `names`; the shares add up to `total` exactly."""
    if not names:
        raise ValueError("nobody to split between")
    share, left = divmod(total, len(names))
    return {name: share + (1 if i < left else 0) for i, name in enumerate(names)}
