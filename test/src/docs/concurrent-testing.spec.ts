import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderFaultTable, renderFloodOptionsTable } from '@stockflow/testkit/docs/flood-options-table';

const DOC = readFileSync(join(__dirname, '../../../docs/concurrent-testing.md'), 'utf8');

function between(name: string): string | undefined {
  return new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)\\n<!-- ${name}:end -->`).exec(DOC)?.[1];
}

describe('docs/concurrent-testing.md', () => {
  it('lists every flood option exactly as --help does', () => {
    expect(between('flood-options')).toBe(renderFloodOptionsTable());
  });

  it('lists every fault kind exactly as --help does', () => {
    expect(between('flood-faults')).toBe(renderFaultTable());
  });

  it('keeps the Results headings for measured figures', () => {
    const results = DOC.split('## Results')[1] ?? '';
    expect(results).toContain('### 100k flood');
    expect(results).toContain('### 30-minute soak');
  });
});
