'use strict';

const { parseArgs } = require('./args');
const { UsageError } = require('./errors');

const SPEC = {
  format: { type: 'string', default: 'table' },
  out: { type: 'string' },
  verbose: { type: 'boolean' },
};

/** Run the tool on `argv`; returns `{ code, lines }` instead of printing, so it can be tested. */
function main(argv) {
  try {
    const { options, positionals } = parseArgs(argv, SPEC);
    if (positionals.length === 0) {
      throw new UsageError('no input file given');
    }
    const target = options.out ?? 'stdout';
    return { code: 0, lines: [`${positionals.join(', ')} -> ${target} as ${options.format}`] };
  } catch (error) {
    if (error instanceof UsageError) {
      return { code: 2, lines: [`report: ${error.message}`, 'usage: report [--format F] [--out FILE] INPUT...'] };
    }
    throw error;
  }
}

if (require.main === module) {
  const { code, lines } = main(process.argv.slice(2));
  for (const line of lines) {
    (code === 0 ? console.log : console.error)(line);
  }
  process.exitCode = code;
}

module.exports = { main };
