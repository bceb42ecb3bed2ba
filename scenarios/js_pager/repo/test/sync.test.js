'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { OrdersClient } = require('../src/client');
const { collectAll, totalsByCustomer } = require('../src/sync');

const ORDERS = [
  { id: 1, customer: 'acme', amount: 30 },
  { id: 2, customer: 'globex', amount: 12 },
  { id: 3, customer: 'acme', amount: 8 },
  { id: 4, customer: 'initech', amount: 5 },
  { id: 5, customer: 'globex', amount: 1 },
];

test('a single page', () => {
  const client = new OrdersClient(ORDERS.slice(0, 2));
  assert.deepEqual(collectAll(client).map((o) => o.id), [1, 2]);
});

test('walks every page', () => {
  const client = new OrdersClient(ORDERS);
  assert.deepEqual(collectAll(client).map((o) => o.id), [1, 2, 3, 4, 5]);
  assert.equal(client.calls, 3);
});

test('totals cover all pages', () => {
  assert.deepEqual(totalsByCustomer(new OrdersClient(ORDERS, { pageSize: 3 })), { acme: 38, globex: 13, initech: 5 });
});

test('no orders at all', () => {
  assert.deepEqual(collectAll(new OrdersClient([])), []);
});
