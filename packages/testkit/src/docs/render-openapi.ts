import { resolve } from 'node:path';
import { openApiDocument } from '@stockflow/gateway';
import { writeOrCheck } from './generated-file';

/** The gateway's OpenAPI document as docs/openapi.json (the same the gateway serves at /openapi.json). */
export const OPENAPI_DOC = resolve(__dirname, '../../../../docs/openapi.json');

export function renderOpenApi(): string {
  return JSON.stringify(openApiDocument(), null, 2) + '\n';
}

if (require.main === module) writeOrCheck(process.argv.slice(2), OPENAPI_DOC, renderOpenApi, 'npm run docs:openapi', "docs/openapi.json from the gateway's routes and the message registry");
