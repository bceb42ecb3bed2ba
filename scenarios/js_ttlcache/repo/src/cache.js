'use strict';

const { systemClock } = require('./clock');

class TtlCache {
  constructor({ ttlMs, maxEntries = Infinity, clock = systemClock }) {
    if (!(ttlMs > 0)) {
      throw new RangeError('ttlMs must be positive');
    }
    this.ttlMs = ttlMs;
    this.maxEntries = maxEntries;
    this.clock = clock;
    this.entries = new Map(); // insertion order = age order
    this.evictions = 0;
  }

  isExpired(entry) {
    return this.clock.now() >= entry.expiresAt;
  }

  set(key, value) {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      this.entries.delete(oldest);
      this.evictions += 1;
    }
    this.entries.set(key, { value, expiresAt: this.clock.now() + this.ttlMs });
  }

  get(key) {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      return undefined;
    }
    if (this.isExpired(entry)) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  get size() {
    for (const [key, entry] of this.entries) {
      if (this.isExpired(entry)) {
        this.entries.delete(key);
      }
    }
    return this.entries.size;
  }

  clear() {
    this.entries.clear();
    this.evictions = 0;
  }

  stats() {
    return { size: this.size, evictions: this.evictions };
  }
}

module.exports = { TtlCache };
