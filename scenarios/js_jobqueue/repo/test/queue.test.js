'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { JobQueue } = require('../src/queue');

function queueOf(...jobs) {
  const queue = new JobQueue();
  for (const [id, priority] of jobs) {
    queue.push({ id, priority });
  }
  return queue;
}

test('higher priority first', () => {
  assert.deepEqual(queueOf(['low', 1], ['high', 5], ['mid', 3]).ids(), ['high', 'mid', 'low']);
});

test('equal priorities keep submission order', () => {
  assert.deepEqual(queueOf(['a', 2], ['b', 2], ['c', 2]).ids(), ['a', 'b', 'c']);
});

test('mixed priorities', () => {
  const queue = queueOf(['a', 1], ['b', 3], ['c', 1], ['d', 3]);
  assert.deepEqual(queue.ids(), ['b', 'd', 'a', 'c']);
});

test('rejects a fractional priority', () => {
  assert.throws(() => queueOf(['x', 1.5]), /job x: priority must be an integer/);
});
