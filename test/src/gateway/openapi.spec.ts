import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { HTTP_COMMANDS, openApiDocument } from '@stockflow/gateway';
import { OPENAPI_DOC, renderOpenApi } from '@stockflow/testkit/docs/render-openapi';

/**
 * The validator is an ECMAScript module, which this CommonJS test run cannot load: it runs in a
 * node of its own (which can), reading the document from stdin.
 */
function validate(doc: unknown): { valid: boolean; errors?: unknown } {
  const script = `const { Validator } = require('@seriousme/openapi-schema-validator');
    new Validator().validate(JSON.parse(require('node:fs').readFileSync(0, 'utf8'))).then((r) => process.stdout.write(JSON.stringify(r)));`;
  const run = spawnSync(process.execPath, ['-e', script], { input: JSON.stringify(doc), encoding: 'utf8', cwd: __dirname });
  if (run.status !== 0) throw new Error(`validator failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as { valid: boolean; errors?: unknown };
}

describe('the gateway\'s OpenAPI document', () => {
  it('validates against the OpenAPI 3.1 schema', () => {
    expect(validate(openApiDocument())).toEqual({ valid: true });
  });

  it('is refused by the same validator when broken (the check can fail)', () => {
    const broken = openApiDocument();
    delete broken.info;
    expect(validate(broken).valid).toBe(false);
  });

  it('has one operation per command a client may send, with the workers\' own schema', () => {
    const doc = openApiDocument() as { paths: Record<string, { post?: { requestBody: unknown } }>; components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
    for (const type of HTTP_COMMANDS) expect(doc.paths[`/v1/commands/${type}`]?.post).toBeDefined();
    expect(doc.components.schemas.ReserveStock?.properties).toHaveProperty('lines');
  });

  it('is in docs/openapi.json as generated (npm run docs:openapi)', () => {
    expect(readFileSync(OPENAPI_DOC, 'utf8')).toBe(renderOpenApi());
  });
});
