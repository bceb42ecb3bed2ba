'use strict';

const { UsageError } = require('./errors');

/**
 * Parse `argv` (without node and the script) against `spec`, a map of option name to
 * `{ type: 'string' | 'boolean', default }`. Returns `{ options, positionals }`.
 */
function parseArgs(argv, spec) {
  const options = {};
  const positionals = [];
  for (const [name, option] of Object.entries(spec)) {
    options[name] = option.default ?? (option.type === 'boolean' ? false : undefined);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const option = spec[name];
    if (option === undefined) {
      throw new UsageError(`unknown option --${name}`);
    }
    if (option.type === 'boolean') {
      options[name] = true;
    } else if (inline !== undefined) {
      options[name] = inline;
    } else {
      const value = argv[i + 1];
      if (value.startsWith('--')) {
        throw new UsageError(`option --${name} needs a value`);
      }
      options[name] = value;
      i++;
    }
  }
  return { options, positionals };
}

module.exports = { parseArgs };
