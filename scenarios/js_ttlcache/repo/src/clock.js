'use strict';

/** A clock the tests move by hand. */
class ManualClock {
  constructor(startMs = 0) {
    this.nowMs = startMs;
  }

  now() {
    return this.nowMs;
  }

  advance(ms) {
    this.nowMs += ms;
  }
}

const systemClock = { now: () => Date.now() };

module.exports = { ManualClock, systemClock };
