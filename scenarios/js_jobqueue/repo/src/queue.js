'use strict';

/** Priority queue: higher priority first; equal priorities in submission order (FIFO). */
class JobQueue {
  constructor() {
    this.jobs = [];
  }

  push(job) {
    if (!Number.isInteger(job.priority)) {
      throw new TypeError(`job ${job.id}: priority must be an integer`);
    }
    // Insert before the first job that should run after this one.
    const index = this.jobs.findIndex((queued) => queued.priority <= job.priority);
    if (index === -1) {
      this.jobs.push(job);
    } else {
      this.jobs.splice(index, 0, job);
    }
  }

  shift() {
    return this.jobs.shift();
  }

  get length() {
    return this.jobs.length;
  }

  ids() {
    return this.jobs.map((job) => job.id);
  }
}

module.exports = { JobQueue };
