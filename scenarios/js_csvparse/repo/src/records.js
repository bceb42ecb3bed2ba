'use strict';

const { parse } = require('./csv');

/** Rows under the header line as objects keyed by the header's names. */
function toRecords(text) {
  const [header, ...rows] = parse(text);
  if (header === undefined) {
    return [];
  }
  return rows.map((row, index) => {
    if (row.length !== header.length) {
      throw new Error(`line ${index + 2}: expected ${header.length} fields, got ${row.length}`);
    }
    const record = {};
    header.forEach((name, i) => {
      record[name] = row[i];
    });
    return record;
  });
}

module.exports = { toRecords };
