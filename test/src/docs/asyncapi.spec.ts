import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { contracts, examples, type MessageType } from '@stockflow/shared';
import { ASYNCAPI_DOC, renderAsyncApi } from '@stockflow/testkit/docs/render-asyncapi';

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

  it('reads the same in YAML 1.1: timestamps stay strings', () => {
    const doc = parse(text, { version: '1.1' }) as { components: { messages: Record<string, { examples: { payload: unknown }[] }> } };
    for (const type of Object.keys(contracts) as MessageType[]) expect(doc.components.messages[type]!.examples[0]!.payload).toEqual(examples[type]);
  });

  it('agrees with the runtime schemas on unknown fields: refused everywhere but in ProviderWebhook', () => {
    const doc = parse(text) as { components: { messages: Record<string, { payload: object; examples: { payload: Record<string, unknown> }[] }> } };
    const ajv = new Ajv({ strict: false, allErrors: true });
    for (const type of Object.keys(contracts) as MessageType[]) {
      const m = doc.components.messages[type]!;
      const asyncapi = ajv.compile(m.payload);
      const example = m.examples[0]!.payload;
      expect([type, asyncapi(example), contracts[type].schema.safeParse(example).success]).toEqual([type, true, true]);
      const extra = { ...example, unexpectedField: 1 };
      const open = type === 'ProviderWebhook';
      expect([type, asyncapi(extra), contracts[type].schema.safeParse(extra).success]).toEqual([type, open, open]);
    }
    const misspelt = { ...examples.PlaceOrder, reservationTTLms: 60_000 };
    expect(contracts.PlaceOrder.schema.safeParse(misspelt).error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['reservationTTLms'] });
  });
});
