'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parseArgs } = require('../src/args');
const { UsageError } = require('../src/errors');

const SPEC = { format: { type: 'string', default: 'table' }, out: { type: 'string' }, verbose: { type: 'boolean' } };

test('defaults apply when an option is absent', () => {
  assert.deepEqual(parseArgs(['in.json'], SPEC), {
    options: { format: 'table', out: undefined, verbose: false },
    positionals: ['in.json'],
  });
});

test('--name value and --name=value', () => {
  const { options } = parseArgs(['--format', 'csv', '--out=a=b.csv', '--verbose'], SPEC);
  assert.deepEqual(options, { format: 'csv', out: 'a=b.csv', verbose: true });
});

test('an option followed by another option has no value', () => {
  assert.throws(() => parseArgs(['--out', '--verbose'], SPEC), UsageError);
});

test('an option at the very end has no value', () => {
  assert.throws(() => parseArgs(['in.json', '--format'], SPEC), {
    name: 'UsageError',
    message: 'option --format needs a value',
  });
});
