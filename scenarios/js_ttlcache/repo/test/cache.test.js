'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { TtlCache } = require('../src/cache');
const { ManualClock } = require('../src/clock');

function makeCache(options = {}) {
  const clock = new ManualClock(1000);
  return { clock, cache: new TtlCache({ ttlMs: 100, clock, ...options }) };
}

test('serves an entry before its ttl', () => {
  const { clock, cache } = makeCache();
  cache.set('a', 1);
  clock.advance(99);
  assert.equal(cache.get('a'), 1);
});

test('an entry is gone exactly at its ttl', () => {
  const { clock, cache } = makeCache();
  cache.set('a', 1);
  clock.advance(100);
  assert.equal(cache.get('a'), undefined);
});

test('size does not count expired entries', () => {
  const { clock, cache } = makeCache();
  cache.set('a', 1);
  clock.advance(50);
  cache.set('b', 2);
  clock.advance(50);
  assert.equal(cache.size, 1);
});

test('rewriting a key renews it', () => {
  const { clock, cache } = makeCache();
  cache.set('a', 1);
  clock.advance(80);
  cache.set('a', 2);
  clock.advance(80);
  assert.equal(cache.get('a'), 2);
});
