'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { toRecords } = require('../src/records');

test('rows become records keyed by the header', () => {
  const text = 'id,name,qty\n1,bolt,40\n2,"nut, hex",15\n';
  assert.deepEqual(toRecords(text), [
    { id: '1', name: 'bolt', qty: '40' },
    { id: '2', name: 'nut, hex', qty: '15' },
  ]);
});

test('empty input has no records', () => {
  assert.deepEqual(toRecords(''), []);
});

test('a short row is reported with its line number', () => {
  assert.throws(() => toRecords('"a","b"\n"1"\n'), /line 2: expected 2 fields, got 1/);
});
