'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { buildOrder } = require('../src/order');
const { parseTasks } = require('../src/tasks');
const { CycleError } = require('../src/errors');

test('a single task', () => {
  assert.deepEqual(buildOrder(parseTasks('solo:')), ['solo']);
});

test('a chain', () => {
  assert.deepEqual(buildOrder(parseTasks('c: b\nb: a\na:')), ['a', 'b', 'c']);
});

test('a shared dependency is built once', () => {
  const text = 'app: lib utils\nlib: utils\nutils:\n';
  assert.deepEqual(buildOrder(parseTasks(text)), ['utils', 'lib', 'app']);
});

test('a diamond', () => {
  const text = 'top: left right\nleft: base\nright: base\n';
  assert.deepEqual(buildOrder(parseTasks(text)), ['base', 'left', 'right', 'top']);
});

test('a cycle is reported with its path', () => {
  assert.throws(() => buildOrder(parseTasks('a: b\nb: c\nc: a')), (error) => {
    assert.ok(error instanceof CycleError);
    assert.equal(error.message, 'dependency cycle: a -> b -> c -> a');
    return true;
  });
});
