'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { TtlCache } = require('../src/cache');
const { ManualClock } = require('../src/clock');

test('evicts the oldest entry when full', () => {
  const cache = new TtlCache({ ttlMs: 1000, maxEntries: 2, clock: new ManualClock() });
  cache.set('a', 1);
  cache.set('b', 2);
  cache.set('c', 3);
  assert.equal(cache.get('a'), undefined);
  assert.deepEqual(cache.stats(), { size: 2, evictions: 1 });
});

test('clear starts the statistics afresh', () => {
  const cache = new TtlCache({ ttlMs: 1000, maxEntries: 1, clock: new ManualClock() });
  cache.set('a', 1);
  cache.set('b', 2);
  cache.clear();
  cache.set('c', 3);
  assert.deepEqual(cache.stats(), { size: 1, evictions: 0 });
});

test('rejects a ttl that is not positive', () => {
  assert.throws(() => new TtlCache({ ttlMs: 0 }), RangeError);
});
