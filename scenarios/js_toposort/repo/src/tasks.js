'use strict';

/** Parse "task: dep dep" lines into a Map of task -> dependencies. Unknown deps become tasks. */
function parseTasks(text) {
  const graph = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') {
      continue;
    }
    const [name, rest = ''] = line.split(':');
    const deps = rest.split(/\s+/).filter(Boolean);
    graph.set(name.trim(), deps);
    for (const dep of deps) {
      if (!graph.has(dep)) {
        graph.set(dep, []);
      }
    }
  }
  return graph;
}

module.exports = { parseTasks };
