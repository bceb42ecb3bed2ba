'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { JobQueue } = require('../src/queue');
const { drain } = require('../src/drain');

test('runs a single job', async () => {
  const queue = new JobQueue();
  queue.push({ id: 'only', priority: 0 });
  assert.deepEqual(await drain(queue, async () => {}), { ran: ['only'], failed: [] });
});

test('a failing job is retried behind its peers', async () => {
  const queue = new JobQueue();
  for (const id of ['a', 'b', 'c']) {
    queue.push({ id, priority: 1 });
  }
  const flaky = new Set(['a']);
  const result = await drain(queue, async (job) => {
    if (flaky.delete(job.id)) {
      throw new Error('transient');
    }
  });
  assert.deepEqual(result.ran, ['a', 'b', 'c', 'a']);
});
