import { readFileSync, writeFileSync } from 'node:fs';
import { toolArgs } from '@stockflow/shared';

/**
 * The command line of a docs generator: writes `file` with `text`, or with --check only says
 * whether it is current (exit 1 naming `command` when it is not).
 */
export function writeOrCheck(argv: string[], file: string, text: () => string, command: string, what: string): void {
  const flags = toolArgs(argv, ['check'], `${command} [--check]   writes ${what}; --check only says whether it is current (exit 1 if not)`);
  const doc = text();
  if (flags.has('check')) {
    if (readFileSync(file, 'utf8') !== doc) {
      process.stderr.write(`${file} is stale: run ${command}\n`);
      process.exit(1);
    }
    return;
  }
  writeFileSync(file, doc);
  process.stdout.write(`wrote ${file}\n`);
}
