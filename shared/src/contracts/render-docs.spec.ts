import { readFileSync } from 'node:fs';
import { contracts } from '@stockflow/client';
import { MESSAGES_DOC, renderMessagesDoc } from './render-docs';

describe('docs/messages.md', () => {
  it('is up to date with the contracts (run `npm run docs:messages` when this fails)', () => {
    expect(readFileSync(MESSAGES_DOC, 'utf8')).toBe(renderMessagesDoc());
  });

  it('has a section with an example for every message type', () => {
    const doc = renderMessagesDoc();
    for (const type of Object.keys(contracts)) {
      expect(doc).toMatch(new RegExp(`### ${type}\\n[\\s\\S]*?\`\`\`json\\n\\{`));
    }
  });
});
