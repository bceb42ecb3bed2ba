'use strict';

const { slugify } = require('./slug');

/** The slug of `title`, made unique against the Set `taken` (which it also updates). */
function uniqueSlug(title, taken) {
  const base = slugify(title) || 'untitled';
  let slug = base;
  for (let n = 2; taken.has(slug); n++) {
    slug = `${base}-${n}`;
  }
  taken.add(slug);
  return slug;
}

module.exports = { uniqueSlug };
