'use strict';

/** Every order the client can page through, in order. */
function collectAll(client) {
  const all = [];
  let cursor;
  do {
    const page = client.fetchPage(cursor);
    all.push(...page.items);
    cursor = page.next;
  } while (cursor !== undefined);
  return all;
}

/** Sum of order amounts per customer, from every page. */
function totalsByCustomer(client) {
  const totals = {};
  for (const order of collectAll(client)) {
    totals[order.customer] = (totals[order.customer] ?? 0) + order.amount;
  }
  return totals;
}

module.exports = { collectAll, totalsByCustomer };
