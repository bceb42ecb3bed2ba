'use strict';

const { toCents, formatCents } = require('./money');

/** Totals of an invoice: lines are `{ price, qty }` with decimal prices; `taxRate` like 0.2. */
function totals(lines, taxRate) {
  const net = lines.reduce((sum, line) => sum + toCents(line.price) * line.qty, 0);
  const tax = Math.round(net * taxRate);
  return { net, tax, gross: net + tax };
}

function render(lines, taxRate) {
  const { net, tax, gross } = totals(lines, taxRate);
  return [`net ${formatCents(net)}`, `tax ${formatCents(tax)}`, `total ${formatCents(gross)}`].join('\n');
}

module.exports = { totals, render };
