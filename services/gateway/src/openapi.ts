import { contracts, payloadJsonSchema, type CommandContract, type EventContract, type MessageType } from '@stockflow/shared';
import { HTTP_COMMANDS } from './commands';

/** Convenience routes: the common calls under their own names, the same commands underneath. */
export const ALIASES: Readonly<Record<string, MessageType>> = { reservations: 'ReserveStock', orders: 'PlaceOrder' };

const problemRef = { $ref: '#/components/schemas/Problem' };
const problemOf = (description: string) => ({ description, content: { 'application/problem+json': { schema: problemRef } } });

function commandOperation(type: MessageType, operationId: string) {
  const c = contracts[type] as CommandContract;
  return {
    operationId,
    summary: `${type}: ${c.summary}`,
    tags: [c.worker],
    security: [{ bearer: [] }],
    parameters: [{ $ref: '#/components/parameters/IdempotencyKey' }, { $ref: '#/components/parameters/Prefer' }],
    requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${type}` } } } },
    responses: {
      200: { description: 'Processed: a worker applied this id before the gateway saw it (sent over AMQP); its outcome went out then', content: { 'application/json': { schema: { $ref: '#/components/schemas/CommandStatus' } } } },
      201: { description: 'Applied (with Prefer: wait): the outcome event', headers: { Location: { schema: { type: 'string' } } }, content: { 'application/json': { schema: { $ref: '#/components/schemas/CommandStatus' } } } },
      202: { description: 'Confirmed by the broker; the outcome is not known yet (GET the Location)', headers: { Location: { schema: { type: 'string' } } }, content: { 'application/json': { schema: { $ref: '#/components/schemas/CommandStatus' } } } },
      400: problemOf('Invalid JSON, an invalid command (errors name each field) or a missing or invalid Idempotency-Key'),
      401: problemOf('No valid bearer token'),
      409: problemOf('Refused by the worker (with Prefer: wait): not enough stock, a transition not allowed; the outcome event is included'),
      413: problemOf('Body over MAX_MESSAGE_BYTES'),
      422: problemOf('idempotency_key_reused: the key was used for another request; dead_lettered: the worker could not apply it'),
      429: problemOf('Over the client\'s rate (Retry-After says when to try again)'),
      503: problemOf('The broker did not confirm in time: send the same request again with the same Idempotency-Key'),
    },
  };
}

/**
 * The OpenAPI 3.1 description of the gateway, from the same message registry and zod schemas
 * the workers validate with (served at /openapi.json, and docs/openapi.json).
 */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const type of HTTP_COMMANDS) paths[`/v1/commands/${type}`] = { post: commandOperation(type, `send${type}`) };
  for (const [alias, type] of Object.entries(ALIASES)) paths[`/v1/${alias}`] = { post: commandOperation(type, `create${alias[0]!.toUpperCase()}${alias.slice(1)}`) };
  paths['/v1/commands/{messageId}'] = {
    get: {
      operationId: 'getCommand',
      summary: 'What became of a command this client sent: accepted (pending), applied or rejected with its outcome event, dead_lettered with the reason',
      security: [{ bearer: [] }],
      parameters: [{ name: 'messageId', in: 'path', required: true, schema: { type: 'string' } }],
      responses: {
        200: { description: 'Processed: a worker applied the id before the gateway saw it (sent over AMQP)', content: { 'application/json': { schema: { $ref: '#/components/schemas/CommandStatus' } } } },
        201: { description: 'Applied', content: { 'application/json': { schema: { $ref: '#/components/schemas/CommandStatus' } } } },
        202: { description: 'Accepted, outcome not known yet', content: { 'application/json': { schema: { $ref: '#/components/schemas/CommandStatus' } } } },
        401: problemOf('No valid bearer token'),
        404: problemOf('No command with this id from this client (or older than the retention window)'),
        409: problemOf('Refused, with the outcome event'),
        422: problemOf('Dead-lettered, with the reason'),
        503: problemOf('Unconfirmed: the broker did not confirm it; send the same request again'),
      },
    },
  };
  const schemas: Record<string, unknown> = {
    Problem: {
      type: 'object',
      required: ['type', 'code', 'title', 'status'],
      properties: { type: { type: 'string' }, code: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } } },
    },
    CommandStatus: {
      type: 'object',
      required: ['messageId', 'type', 'partition', 'state'],
      properties: {
        messageId: { type: 'string' },
        type: { type: 'string' },
        partition: { type: 'integer' },
        state: { enum: ['publishing', 'accepted', 'processed', 'applied', 'rejected', 'dead_lettered', 'unconfirmed'] },
        outcome: { type: 'object', properties: { type: { enum: Object.entries(contracts).filter(([, c]) => (c as EventContract).kind === 'event').map(([t]) => t) }, payload: { type: 'object' } } },
      },
    },
  };
  for (const type of HTTP_COMMANDS) schemas[type] = payloadJsonSchema(contracts[type].schema);
  return {
    openapi: '3.1.0',
    info: { title: 'stockflow HTTP ingress', version: '1', description: 'Commands over HTTP for upstreams that do not speak AMQP: each request becomes the same confirmed command an AMQP publisher sends (docs/publishing.md).' },
    servers: [{ url: 'http://127.0.0.1:8084' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      parameters: {
        IdempotencyKey: { name: 'Idempotency-Key', in: 'header', required: true, description: 'The message id: the same request again is answered the same and sent once; another request under it is refused (422)', schema: { type: 'string', pattern: '^[A-Za-z0-9._:@/+=-]{1,200}$' } },
        Prefer: { name: 'Prefer', in: 'header', required: false, description: 'wait=N: wait up to N seconds (capped by GATEWAY_MAX_WAIT_S) for the outcome', schema: { type: 'string', example: 'wait=5' } },
      },
      schemas,
    },
  };
}
