'use strict';

/** Split one CSV line into its fields. */
function parseLine(line) {
  const fields = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
    } else {
      field += ch;
    }
  }
  fields.push(field);
  return fields;
}

/** Every non-blank line of `text` as an array of fields. */
function parse(text) {
  return text
    .split(/\r?\n/)
    .filter((line) => line.length > 0)
    .map(parseLine);
}

module.exports = { parse, parseLine };
