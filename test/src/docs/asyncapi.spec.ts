import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';
import { parse } from 'yaml';
import { contracts, examples, type MessageType } from '@stockflow/shared';
import { ASYNCAPI_DOC, renderAsyncApi } from './render-asyncapi';

const text = readFileSync(ASYNCAPI_DOC, 'utf8');

describe('docs/asyncapi.yaml', () => {
  it('is exactly what the runtime contracts generate (run npm run docs:asyncapi when this fails)', () => {
    expect(text).toBe(renderAsyncApi());
  });

  it('is a valid AsyncAPI 3 document for the official parser (no errors, no warnings)', async () => {
    const { document, diagnostics } = await new Parser().parse(text);
    expect(diagnostics.filter((d) => Number(d.severity) <= 1).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`)).toEqual([]);
    expect(document?.allMessages().length).toBe(Object.keys(contracts).length);
  }, 60_000);

  it('describes every message, with an example its runtime schema accepts', () => {
    const doc = parse(text) as { components: { messages: Record<string, { payload: unknown; examples: { payload: unknown }[] }> } };
    for (const type of Object.keys(contracts) as MessageType[]) {
      const m = doc.components.messages[type];
      expect(m).toBeDefined();
      expect(m!.examples[0]!.payload).toEqual(examples[type]);
      expect(contracts[type].schema.safeParse(m!.examples[0]!.payload).success).toBe(true);
    }
  });
});
