'use strict';

class CycleError extends Error {
  constructor(path) {
    super(`dependency cycle: ${path.join(' -> ')}`);
    this.name = 'CycleError';
    this.path = path;
  }
}

module.exports = { CycleError };
