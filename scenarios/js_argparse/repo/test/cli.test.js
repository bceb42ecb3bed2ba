'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { main } = require('../src/cli');

test('reports what it would do', () => {
  assert.deepEqual(main(['--format', 'csv', 'sales.json']), { code: 0, lines: ['sales.json -> stdout as csv'] });
});

test('unknown option is a usage error', () => {
  assert.equal(main(['--colour', 'sales.json']).code, 2);
});

test('a missing value is a usage error, not a crash', () => {
  const { code, lines } = main(['sales.json', '--out']);
  assert.equal(code, 2);
  assert.equal(lines[0], 'report: option --out needs a value');
});
