import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { openApiDocument } from '@stockflow/gateway';
import { toolArgs } from '@stockflow/shared';

/** The gateway's OpenAPI document as docs/openapi.json (the same the gateway serves at /openapi.json). */
export const OPENAPI_DOC = resolve(__dirname, '../../../../docs/openapi.json');

export function renderOpenApi(): string {
  return JSON.stringify(openApiDocument(), null, 2) + '\n';
}

const USAGE = `npm run docs:openapi [--check]   writes docs/openapi.json from the gateway's routes and the message registry; --check only says whether it is current (exit 1 if not)`;

if (require.main === module) {
  const flags = toolArgs(process.argv.slice(2), ['check'], USAGE);
  const doc = renderOpenApi();
  if (flags.has('check')) {
    if (readFileSync(OPENAPI_DOC, 'utf8') !== doc) {
      process.stderr.write(`${OPENAPI_DOC} is stale: run npm run docs:openapi\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(OPENAPI_DOC, doc);
  }
}
