'use strict';

const { CycleError } = require('./errors');

/** Every task after its dependencies (depth-first, tasks and dependencies in name order). */
function buildOrder(graph) {
  const order = [];
  const state = new Map(); // task -> 'visiting' | 'done'
  const visit = (name, path) => {
    const seen = state.get(name);
    if (seen !== undefined) {
      throw new CycleError([...path, name]);
    }
    state.set(name, 'visiting');
    for (const dep of [...(graph.get(name) ?? [])].sort()) {
      visit(dep, [...path, name]);
    }
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of [...graph.keys()].sort()) {
    visit(name, []);
  }
  return order;
}

module.exports = { buildOrder };
