import type { ConsumeMessage, Options } from 'amqplib';
import { contractOf, HEADER, MESSAGE_ID_PATTERN, messageFingerprint, SEQUENCE_SESSION_PATTERN, type Envelope } from '../contracts';
import { PermanentMessageError } from '../errors';
import { toCurrentVersion } from './versions';

/** AMQP properties for an envelope. The body is the payload JSON alone (see contracts/envelope.ts). */
export function propertiesOf(env: Envelope, extraHeaders?: Record<string, unknown>): Options.Publish & { messageId: string } {
  // The envelope's own headers win over extra ones of the same name: a caller's header table
  // cannot make the message say another version, key or sequence than its envelope.
  const headers: Record<string, unknown> = {
    ...extraHeaders,
    [HEADER.version]: env.version,
    [HEADER.occurredAt]: env.occurredAt,
    [HEADER.partitionKey]: env.partitionKey,
  };
  if (env.causationId !== undefined) headers[HEADER.causationId] = env.causationId;
  else delete headers[HEADER.causationId];
  if (env.sequence !== undefined) headers[HEADER.sequence] = env.sequence;
  else delete headers[HEADER.sequence];
  if (env.sequenceSession !== undefined) headers[HEADER.sequenceSession] = env.sequenceSession;
  else delete headers[HEADER.sequenceSession];
  return {
    messageId: env.messageId,
    type: env.type,
    correlationId: env.correlationId,
    timestamp: Math.floor(Date.parse(env.occurredAt) / 1000),
    contentType: 'application/json',
    persistent: true,
    headers,
  };
}

export interface Decoded {
  envelope: Envelope;
  payload: unknown;
  raw: Buffer;
  headers: Record<string, unknown>;
  /** Type and payload, hashed (messageFingerprint): what the message id stands for. */
  fingerprint: string;
  /** The fingerprint the same message had in the older version it was sent as (none when current). */
  earlierFingerprints: readonly string[];
}

/** The same message: one's fingerprint is the other's, in any version either was sent as. */
export function sameFingerprint(a: { fingerprint: string; earlierFingerprints?: readonly string[] }, fingerprint: string): boolean {
  return a.fingerprint === fingerprint || (a.earlierFingerprints?.includes(fingerprint) ?? false);
}

/**
 * A header that must be a whole number from 1 (x-version, x-sequence): an AMQP integer or its
 * decimal digits. Anything else (2.5, "2.0", " 7", "1e3", true) is refused, not guessed at.
 */
function positiveInteger(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : value;
  const n = typeof text === 'number' ? text : typeof text === 'string' && /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new PermanentMessageError('invalid_envelope', `${name} must be a whole number from 1, got ${JSON.stringify(Buffer.isBuffer(value) ? text : value)}`);
  return n;
}

function headerString(headers: Record<string, unknown>, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined || v === null) return undefined;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

/**
 * Envelope and payload of a delivery, validated against the contract registry. Every way a
 * message can be wrong maps to a PermanentMessageError with a stable reason; the consumer
 * dead-letters those at once.
 */
export function decode(msg: ConsumeMessage, maxBytes: number): Decoded {
  const raw = msg.content;
  if (raw.length > maxBytes) throw new PermanentMessageError('oversized', `body is ${raw.length} bytes, limit ${maxBytes}`);
  const p = msg.properties;
  const headers = (p.headers ?? {}) as Record<string, unknown>;
  const messageId = typeof p.messageId === 'string' ? p.messageId : undefined;
  if (!messageId || !MESSAGE_ID_PATTERN.test(messageId)) throw new PermanentMessageError('invalid_envelope', 'messageId property missing or not of [A-Za-z0-9._:@/+=-]{1,200}');
  const type = typeof p.type === 'string' ? p.type : undefined;
  if (!type) throw new PermanentMessageError('invalid_envelope', 'type property missing');
  const contract = contractOf(type);
  if (!contract) throw new PermanentMessageError('unknown_type', `unknown message type '${type}'`);
  const version = positiveInteger(headers[HEADER.version], HEADER.version) ?? 1;

  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new PermanentMessageError('malformed_json', `body is not JSON: ${(err as Error).message}`);
  }
  const { payload, asSent } = toCurrentVersion(type, contract, version, json);
  const partitionKey = contract.partitionKey(payload);
  const sequence = positiveInteger(headers[HEADER.sequence], HEADER.sequence);
  const occurredAt = headerString(headers, HEADER.occurredAt) ?? (p.timestamp ? new Date(Number(p.timestamp) * 1000).toISOString() : new Date().toISOString());
  const envelope: Envelope = {
    messageId,
    type,
    version,
    occurredAt,
    correlationId: typeof p.correlationId === 'string' && p.correlationId ? p.correlationId : messageId,
    partitionKey,
  };
  const causationId = headerString(headers, HEADER.causationId);
  if (causationId !== undefined) envelope.causationId = causationId;
  if (sequence !== undefined) envelope.sequence = sequence;
  const session = headerString(headers, HEADER.sequenceSession);
  if (session !== undefined) {
    if (!SEQUENCE_SESSION_PATTERN.test(session)) throw new PermanentMessageError('invalid_envelope', `${HEADER.sequenceSession} must be 1-64 of [A-Za-z0-9._:-]`);
    envelope.sequenceSession = session;
  }
  const fingerprint = messageFingerprint(type, contract.identity ? contract.identity.parse(payload) : payload);
  // A copy sent as an older version that a worker of that version applied was recorded with the
  // fingerprint of that form: it is the same message.
  const earlier = version < contract.version ? [messageFingerprint(type, asSent)] : [];
  return { envelope, payload, raw, headers, fingerprint, earlierFingerprints: earlier };
}
