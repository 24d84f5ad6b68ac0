import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigTable } from '@stockflow/testkit/docs/config-table';

const README = readFileSync(join(__dirname, '../../../README.md'), 'utf8');

describe('README', () => {
  it('documents every configuration variable exactly as the workers read it', () => {
    const m = /<!-- config:start -->\n([\s\S]*?)\n<!-- config:end -->/.exec(README);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(renderConfigTable());
  });

  it('has the two Quick start commands', () => {
    const quick = README.split('## Quick start')[1]?.split('\n## ')[0] ?? '';
    expect(quick).toContain('npm start');
    expect(quick).toContain('npm test');
  });
});
