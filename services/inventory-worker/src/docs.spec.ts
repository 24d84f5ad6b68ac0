import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { commonSettings } from '@stockflow/shared';
import { inventorySettings } from './config';

/** docs/inventory.md's configuration table must name every inventory setting with its default. */
describe('docs/inventory.md', () => {
  const doc = readFileSync(resolve(__dirname, '../../../docs/inventory.md'), 'utf8');
  const own = Object.entries(inventorySettings).filter(([key, s]) => (commonSettings as Record<string, unknown>)[key] !== s);

  it.each(own.map(([, s]) => [s.env, s.default] as const))('lists %s with default %s', (env, def) => {
    expect(doc).toContain(`| \`${env}\` | \`${String(def)}\``);
  });

  it('has inventory settings to list (the filter above is not empty)', () => {
    expect(own.length).toBeGreaterThanOrEqual(5);
  });
});
