'use strict';

const MAX_LENGTH = 60;

/** A URL slug for `title`: [a-z0-9] words joined by single hyphens, at most 60 characters. */
function slugify(title) {
  const words = title
    .replace(/[\u0300-\u036f]/g, '') // combining accents
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  let slug = '';
  for (const word of words) {
    const next = slug === '' ? word : `${slug}-${word}`;
    if (next.length > MAX_LENGTH) {
      break;
    }
    slug = next;
  }
  return slug;
}

module.exports = { slugify, MAX_LENGTH };
