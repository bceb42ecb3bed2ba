'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { totals, render } = require('../src/invoice');

test('round prices', () => {
  assert.deepEqual(totals([{ price: 10, qty: 2 }, { price: 2.5, qty: 4 }], 0.2), { net: 3000, tax: 600, gross: 3600 });
});

test('a typical basket', () => {
  const lines = [{ price: 1.15, qty: 3 }, { price: 4.35, qty: 1 }, { price: 0.29, qty: 10 }];
  assert.equal(render(lines, 0.1), ['net 10.70', 'tax 1.07', 'total 11.77'].join('\n'));
});
