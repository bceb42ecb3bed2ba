'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parseTasks } = require('../src/tasks');

test('comments and blank lines are ignored', () => {
  const graph = parseTasks('# build\n\nweb: api # the site\n');
  assert.deepEqual([...graph], [['web', ['api']], ['api', []]]);
});
