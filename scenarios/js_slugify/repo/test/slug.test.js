'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { slugify } = require('../src/slug');

test('plain titles', () => {
  assert.equal(slugify('Hello, World!'), 'hello-world');
  assert.equal(slugify('  10 tips -- for  2024 '), '10-tips-for-2024');
});

test('accents are dropped, not the letters', () => {
  assert.equal(slugify('Crème brûlée'), 'creme-brulee');
  assert.equal(slugify('Ångström über Señor'), 'angstrom-uber-senor');
});

test('long titles stop at a word boundary', () => {
  const slug = slugify('word '.repeat(30));
  assert.ok(slug.length <= 60);
  assert.ok(!slug.endsWith('-'));
});
