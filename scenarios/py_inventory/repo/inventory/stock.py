class OutOfStock(Exception):
    pass


class Inventory:
    def __init__(self, items=()):
        self._items = {item.sku: item for item in items}

    def __repr__(self):
        return f"Inventory(skus={sorted(self._items)})"

    def get(self, sku):
        return self._items[sku]

    def sell(self, sku, n):
        item = self._items[sku]
        if n > item.qty:
            raise OutOfStock(f"{sku}: want {n}, have {item.qty}")
        item.qty -= n

    def restock(self, sku, n):
        self._items[sku].qty += n

    def needs_reorder(self, item):
        """An item is reordered once its stock has fallen to its reorder point."""
        return item.qty < item.reorder_at

    def reorder_report(self):
        return [
            f"{item.sku} {item.name}: {item.qty} left (reorder at {item.reorder_at})"
            for item in sorted(self._items.values(), key=lambda i: i.sku)
            if self.needs_reorder(item)
        ]
