'use strict';

/** A decimal amount such as 19.99 as integer cents. */
function toCents(amount) {
  if (!Number.isFinite(amount)) {
    throw new TypeError(`not an amount: ${amount}`);
  }
  return Math.floor(amount * 100);
}

/** Integer cents as a fixed two-decimal string, e.g. 1999 -> "19.99", -5 -> "-0.05". */
function formatCents(cents) {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

module.exports = { toCents, formatCents };
