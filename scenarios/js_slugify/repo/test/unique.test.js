'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { uniqueSlug } = require('../src/unique');

test('numbers repeated titles', () => {
  const taken = new Set();
  assert.deepEqual(
    ['Intro', 'Intro', 'intro!'].map((title) => uniqueSlug(title, taken)),
    ['intro', 'intro-2', 'intro-3'],
  );
});

test('accented duplicates collide with their plain spelling', () => {
  const taken = new Set(['cafe']);
  assert.equal(uniqueSlug('Café', taken), 'cafe-2');
});

test('a title without letters', () => {
  assert.equal(uniqueSlug('!!!', new Set()), 'untitled');
});
