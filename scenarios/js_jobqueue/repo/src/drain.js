'use strict';

/**
 * Run every job of `queue` through `handler(job)`. A job that throws is retried once, queued
 * behind the jobs of its priority. Returns the ids in the order they ran and the ids that failed twice.
 */
async function drain(queue, handler) {
  const ran = [];
  const failed = [];
  while (queue.length > 0) {
    const job = queue.shift();
    ran.push(job.id);
    try {
      await handler(job);
    } catch (error) {
      if (job.attempt === undefined) {
        queue.push({ ...job, attempt: 2 });
      } else {
        failed.push(job.id);
      }
    }
  }
  return { ran, failed };
}

module.exports = { drain };
