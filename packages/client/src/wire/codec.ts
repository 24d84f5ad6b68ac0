import type { ConsumeMessage, Options } from 'amqplib';
import { contractOf, HEADER, MESSAGE_ID_PATTERN, messageFingerprint, SEQUENCE_SESSION_PATTERN, type Envelope } from '../contracts';
import { PermanentMessageError } from '../errors';
import { toCurrentVersion } from './versions';

/** AMQP properties for an envelope. The body is the payload JSON alone (see contracts/envelope.ts). */
export function propertiesOf(env: Envelope, extraHeaders?: Record<string, unknown>): Options.Publish & { messageId: string } {
  const headers: Record<string, unknown> = {
    [HEADER.version]: env.version,
    [HEADER.occurredAt]: env.occurredAt,
    [HEADER.partitionKey]: env.partitionKey,
    ...extraHeaders,
  };
  if (env.causationId !== undefined) headers[HEADER.causationId] = env.causationId;
  if (env.sequence !== undefined) headers[HEADER.sequence] = env.sequence;
  if (env.sequenceSession !== undefined) headers[HEADER.sequenceSession] = env.sequenceSession;
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
  const version = Number(headerString(headers, HEADER.version) ?? 1);

  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new PermanentMessageError('malformed_json', `body is not JSON: ${(err as Error).message}`);
  }
  const payload = toCurrentVersion(type, contract, version, json);
  const partitionKey = contract.partitionKey(payload);
  const seqRaw = headerString(headers, HEADER.sequence);
  const sequence = seqRaw === undefined ? undefined : Number(seqRaw);
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
  if (sequence !== undefined && Number.isSafeInteger(sequence)) envelope.sequence = sequence;
  const session = headerString(headers, HEADER.sequenceSession);
  if (session !== undefined) {
    if (!SEQUENCE_SESSION_PATTERN.test(session)) throw new PermanentMessageError('invalid_envelope', `${HEADER.sequenceSession} must be 1-64 of [A-Za-z0-9._:-]`);
    envelope.sequenceSession = session;
  }
  return { envelope, payload, raw, headers, fingerprint: messageFingerprint(type, payload) };
}
