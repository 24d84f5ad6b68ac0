import { resolve } from 'node:path';
import { Document, isScalar, visit } from 'yaml';
import { writeOrCheck } from './generated-file';
import { contracts, examples, HEADER, inputsOf, oldestVersion, partitionKeyRules, payloadJsonSchema, WORKER_KINDS, type Contract, type MessageType, type WorkerKind } from '@stockflow/shared';

/**
 * docs/asyncapi.yaml (AsyncAPI 3.0), generated from the runtime contracts: every payload schema
 * is z.toJSONSchema() of the zod schema the workers validate with, every example is the one
 * examples.spec.ts validates. asyncapi.spec.ts fails when the file is stale, so it cannot drift.
 */
export const ASYNCAPI_DOC = resolve(__dirname, '../../../../docs/asyncapi.yaml');

const WORKER_NAME: Record<WorkerKind, string> = { inventory: 'inventory-worker', orders: 'order-worker', payments: 'payment-worker' };
const TYPES = Object.keys(contracts) as MessageType[];
const AMQP = { bindingVersion: '0.3.0' } as const;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}|$)/;


function channelOf(c: Contract): string {
  return c.kind === 'command' ? `${c.worker}Commands` : 'events';
}

function message(type: MessageType) {
  const c: Contract = contracts[type];
  const signed = type === 'ProviderWebhook';
  return {
    name: type,
    title: type,
    summary: c.summary,
    description: [
      `Partition key: \`${partitionKeyRules[type]}\` (partition = fmix32(fnv1a32(utf8(key))) mod N).`,
      c.kind === 'command'
        ? `Routing key: the partition label (two digits for N <= 100), on \`{namespace}.commands.${c.worker}\`.`
        : `Routing key: \`${type}.<partition label>\`, on the \`{namespace}.events\` topic exchange.`,
      'Required AMQP properties: message_id (the idempotency key: a re-publish with the same id is applied at most once), type (this message name), content_type application/json, delivery_mode 2; correlation_id recommended.',
      signed ? 'The body is the provider\'s raw webhook JSON; x-signature is t=<unix seconds>,v1=<HMAC-SHA256 (hex) with the shared WEBHOOK_SECRET of "<t>." and exactly these bytes>, checked (with a 300 s tolerance on t) by the gateway before anything is published.' : '',
    ].filter(Boolean).join('\n'),
    contentType: 'application/json',
    headers: { $ref: signed ? '#/components/schemas/SignedEnvelopeHeaders' : '#/components/schemas/EnvelopeHeaders' },
    payload: payloadJsonSchema(contracts[type].schema),
    correlationId: { $ref: '#/components/correlationIds/byCorrelationId' },
    bindings: { amqp: { messageType: type, ...AMQP } },
    examples: [{ name: `${type}Example`, payload: examples[type] }],
    'x-schema-version': c.version,
    'x-oldest-accepted-version': oldestVersion(c),
    'x-partition-key': partitionKeyRules[type],
    ...(c.kind === 'event' ? { 'x-consumers': c.consumers.map((w) => WORKER_NAME[w]) } : {}),
  };
}

function exchangeBinding(name: string, type: 'direct' | 'topic') {
  return { amqp: { is: 'routingKey', exchange: { name, type, durable: true, autoDelete: false, vhost: '/' }, ...AMQP } };
}

const namespace = { namespace: { default: 'stockflow', description: 'STOCKFLOW_NAMESPACE of the deployment' } };

export function renderAsyncApi(): string {
  const refs = (types: MessageType[]) => Object.fromEntries(types.map((t) => [t, { $ref: `#/components/messages/${t}` }]));
  const channels: Record<string, unknown> = {};
  for (const w of WORKER_KINDS) {
    channels[`${w}Commands`] = {
      address: `{namespace}.commands.${w}`,
      title: `Commands to ${WORKER_NAME[w]}`,
      description: `Direct exchange; bound to the partition queues {namespace}.${w}.p00 … pNN (quorum, single active consumer, x-delivery-limit, dead-letter to <queue>.dead).`,
      parameters: namespace,
      messages: refs(TYPES.filter((t) => { const c: Contract = contracts[t]; return c.kind === 'command' && c.worker === w; })),
      bindings: exchangeBinding(`{namespace}.commands.${w}`, 'direct'),
    };
  }
  channels.events = {
    address: '{namespace}.events',
    title: 'Events',
    description: 'Topic exchange; routing key <Type>.<partition label>. Consuming workers bind their partition queues per event type; observers may bind #.',
    parameters: namespace,
    messages: refs(TYPES.filter((t) => contracts[t].kind === 'event')),
    bindings: exchangeBinding('{namespace}.events', 'topic'),
  };

  const operations: Record<string, unknown> = {};
  for (const t of TYPES) {
    const c: Contract = contracts[t];
    const channel = channelOf(c);
    const ref = { $ref: `#/channels/${channel}/messages/${t}` };
    if (c.kind === 'command') {
      operations[`send${t}`] = {
        action: 'send',
        channel: { $ref: `#/channels/${channel}` },
        summary: `Upstream services send ${t} to ${WORKER_NAME[c.worker]}.`,
        messages: [ref],
        bindings: { amqp: { deliveryMode: 2, mandatory: true, ...AMQP } },
      };
    } else {
      operations[`publish${t}`] = {
        action: 'send',
        channel: { $ref: `#/channels/${channel}` },
        summary: `${WORKER_NAME[c.source]} publishes ${t} through its outbox.`,
        messages: [ref],
        bindings: { amqp: { deliveryMode: 2, mandatory: c.consumers.length > 0, ...AMQP } },
      };
    }
  }
  for (const w of WORKER_KINDS) {
    const inputs = inputsOf(w);
    for (const channel of [...new Set(inputs.map((t) => channelOf(contracts[t])))]) {
      operations[`${w}Receives${channel[0]!.toUpperCase()}${channel.slice(1)}`] = {
        action: 'receive',
        channel: { $ref: `#/channels/${channel}` },
        summary: `${WORKER_NAME[w]} consumes these through its partition queues.`,
        messages: inputs.filter((t) => channelOf(contracts[t]) === channel).map((t) => ({ $ref: `#/channels/${channel}/messages/${t}` })),
      };
    }
  }

  const headerProps = {
    [HEADER.version]: { type: 'integer', description: 'Schema version of the payload (default 1).', default: 1 },
    [HEADER.occurredAt]: { type: 'string', format: 'date-time', description: 'When the fact happened (ISO 8601, ms).' },
    [HEADER.partitionKey]: { type: 'string', description: 'The partition key the publisher hashed (informative; the worker recomputes it from the payload).' },
    [HEADER.causationId]: { type: 'string', description: 'message_id of the message whose handling produced this one.' },
    [HEADER.sequence]: { type: 'integer', description: 'Per-partition-key sequence number, when the publisher keeps one: 1 for a key\'s first message, then +1 per message of that key within its x-sequence-session (a duplicate keeps its number). Workers restore this order after a redelivery reordered messages, holding one whose predecessor has not arrived for up to SEQUENCE_GAP_WAIT_MS.' },
    [HEADER.sequenceSession]: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$', description: 'The numbering x-sequence belongs to: a new one whenever the publisher\'s counters start again at 1 (a restart, a second instance). Order is restored within a session; absent, the numbers of all such publishers share one numbering.' },
  };
  const doc = {
    asyncapi: '3.0.0',
    info: {
      title: 'stockflow',
      version: '0.1.0',
      description: [
        'Message contract of stockflow (inventory, orders, payments over RabbitMQ).',
        'Generated from packages/client/src/contracts by `npm run docs:asyncapi`; do not edit by hand.',
        'Guide for publishing from another service: docs/publishing.md.',
      ].join('\n'),
    },
    defaultContentType: 'application/json',
    servers: {
      local: { host: '127.0.0.1:5672', protocol: 'amqp', protocolVersion: '0.9.1', description: 'What `npm start` runs against (guest/guest).' },
    },
    channels,
    operations,
    components: {
      messages: Object.fromEntries(TYPES.map((t) => [t, message(t)])),
      schemas: {
        EnvelopeHeaders: { type: 'object', properties: headerProps, additionalProperties: true },
        SignedEnvelopeHeaders: {
          type: 'object',
          required: [HEADER.signature],
          properties: { ...headerProps, [HEADER.signature]: { type: 'string', pattern: '^t=\\d+(,v1=[0-9a-f]{64})+$', description: 't=<unix seconds>,v1=<HMAC-SHA256 (hex) with WEBHOOK_SECRET of "<t>." and the raw body>.' } },
          additionalProperties: true,
        },
      },
      correlationIds: { byCorrelationId: { description: 'AMQP correlation_id property: the id of the first message of a flow.', location: '$message.header#/correlation_id' } },
    },
  };
  const yaml = new Document(doc, { aliasDuplicateObjects: false });
  // YAML 1.1 readers turn an unquoted 2024-11-23T10:00:00Z into a date, not the string it is.
  visit(yaml, {
    Scalar(_, node) {
      if (isScalar(node) && typeof node.value === 'string' && TIMESTAMP.test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  return `# Generated by npm run docs:asyncapi from packages/client/src/contracts. Do not edit.\n${yaml.toString({ lineWidth: 0 })}`;
}

if (require.main === module) writeOrCheck(process.argv.slice(2), ASYNCAPI_DOC, renderAsyncApi, 'npm run docs:asyncapi', 'docs/asyncapi.yaml from the message registry');
