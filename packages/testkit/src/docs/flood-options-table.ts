import { FAULT_DOCS, FAULT_KINDS } from '../flood/faults/plan';
import { OPTION_DEFS } from '../flood/options';
import { toolArgs } from '@stockflow/shared';

const cell = (s: string) => s.replace(/\|/g, '\\|');

/**
 * The option and fault tables of docs/concurrent-testing.md, generated from OPTION_DEFS and
 * FAULT_DOCS (the same lists --help prints): `node packages/testkit/dist/docs/flood-options-table.js`
 * prints them, and a test fails when the doc holds another version.
 */
export function renderFloodOptionsTable(): string {
  return [
    '| Option | Default | Meaning |',
    '| --- | --- | --- |',
    ...OPTION_DEFS.map((d) => `| \`--${d.name}${d.value ? ` ${d.value}` : ''}\` | ${d.default ? `\`${cell(d.default)}\`` : ''} | ${cell(d.doc)} |`),
  ].join('\n');
}

export function renderFaultTable(): string {
  return ['| Fault | What it does |', '| --- | --- |', ...FAULT_KINDS.map((k) => `| \`${k}\` | ${cell(FAULT_DOCS[k])} |`)].join('\n');
}

const USAGE = `node packages/testkit/dist/docs/flood-options-table.js   the flood's option and fault tables of docs/concurrent-testing.md`;

if (require.main === module) {
  toolArgs(process.argv.slice(2), [], USAGE);
  process.stdout.write(`${renderFloodOptionsTable()}\n\n${renderFaultTable()}\n`);
}
