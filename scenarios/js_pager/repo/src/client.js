'use strict';

/** Orders client 2.0.0 over an in-memory list (the tests' stand-in for the service). */
class OrdersClient {
  constructor(orders, { pageSize = 2 } = {}) {
    this.orders = orders;
    this.pageSize = pageSize;
    this.calls = 0;
  }

  fetchPage(cursor = 0) {
    this.calls += 1;
    const items = this.orders.slice(cursor, cursor + this.pageSize);
    const end = cursor + items.length;
    return { items, nextCursor: end < this.orders.length ? end : null };
  }
}

module.exports = { OrdersClient };
