'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { toCents, formatCents } = require('../src/money');

test('whole and simple amounts', () => {
  assert.equal(toCents(12), 1200);
  assert.equal(toCents(2.5), 250);
});

test('amounts that are not exact in binary', () => {
  assert.equal(toCents(1.15), 115);
  assert.equal(toCents(0.29), 29);
  assert.equal(toCents(19.99), 1999);
});

test('formatting', () => {
  assert.equal(formatCents(1999), '19.99');
  assert.equal(formatCents(5), '0.05');
  assert.equal(formatCents(-5), '-0.05');
});

test('rejects what is not a number', () => {
  assert.throws(() => toCents(Number.NaN), TypeError);
});
