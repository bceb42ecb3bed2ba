'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parse, parseLine } = require('../src/csv');

test('splits plain fields', () => {
  assert.deepEqual(parseLine('alpha,beta,gamma'), ['alpha', 'beta', 'gamma']);
});

test('keeps empty fields', () => {
  assert.deepEqual(parseLine('a,,c'), ['a', '', 'c']);
});

test('quoted fields may hold commas', () => {
  assert.deepEqual(parseLine('"Smith, Anna","Lee"'), ['Smith, Anna', 'Lee']);
});

test('a doubled quote inside quotes is one quote', () => {
  assert.deepEqual(parseLine('"say ""hi""",ok'), ['say "hi"', 'ok']);
});

test('skips blank lines and accepts CRLF', () => {
  assert.deepEqual(parse('"x","y"\r\n\r\n"1","2"\r\n'), [
    ['x', 'y'],
    ['1', '2'],
  ]);
});
