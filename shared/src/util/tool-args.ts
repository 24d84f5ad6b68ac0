import { parseArgs } from 'node:util';

/**
 * The command line of a small tool (a docs generator, the provider simulator), parsed the one
 * way every stockflow CLI parses: strictly. `--help` prints `usage` and exits 0; an unknown flag
 * or a stray argument exits 2 naming it, before the tool does anything. Returns the boolean
 * `flags` given.
 */
export function toolArgs(argv: string[], flags: readonly string[], usage: string): Set<string> {
  const options = { ...Object.fromEntries(flags.map((f) => [f, { type: 'boolean' as const }])), help: { type: 'boolean' as const, short: 'h' } };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage}\n`);
    process.exit(2);
  }
  if (values.help === true) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return new Set(flags.filter((f) => values[f] === true));
}
