import { hash, randomUUID } from 'node:crypto';
import type { MessageType } from './registry';

/**
 * The envelope travels in AMQP properties and headers; the body is the payload JSON alone.
 * That keeps the body byte-exact for signed webhooks and lets any AMQP client publish to us
 * (docs/publishing.md) without a wrapper format.
 */
export interface Envelope {
  /** The deduplication key: a redelivery or re-publish with the same id has no second effect. */
  messageId: string;
  type: string;
  version: number;
  occurredAt: string;
  correlationId: string;
  causationId?: string;
  partitionKey: string;
  /** Per-partition-key sequence number when the publisher keeps one (within sequenceSession). */
  sequence?: number;
  /**
   * The numbering `sequence` belongs to: one per publisher instance (process start), so a
   * restarted or second publisher starting again at 1 is not taken for the first one's
   * history. Absent for publishers that keep no session: their numbers share one numbering.
   */
  sequenceSession?: string;
}

export interface TypedEnvelope<T extends MessageType> extends Envelope {
  type: T;
}

export const HEADER = {
  version: 'x-version',
  occurredAt: 'x-occurred-at',
  causationId: 'x-causation-id',
  partitionKey: 'x-partition-key',
  sequence: 'x-sequence',
  sequenceSession: 'x-sequence-session',
  signature: 'x-signature',
  /** Set on dead-lettered copies. */
  reason: 'x-stockflow-reason',
  error: 'x-stockflow-error',
  originalQueue: 'x-stockflow-queue',
  deadAt: 'x-stockflow-dead-at',
} as const;

export const MESSAGE_ID_PATTERN = /^[A-Za-z0-9._:@/+=-]{1,200}$/;

export function newMessageId(): string {
  return randomUUID();
}

/** A session id may be any of these characters, this long. */
export const SEQUENCE_SESSION_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** A new numbering for a publisher's per-key sequences: when it began, and random. */
export function newSequenceSession(): string {
  return `${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
}

/**
 * Id of the n-th message a handler emits while processing `parent`: keyed with the service's
 * secret identity token (meta 'identity'), so the same input always yields the same output ids
 * and nobody without the token can compute one. Ids anyone could derive from an upstream id
 * could be sent first by that upstream, and the worker's own ReserveStock or RefundRequested
 * would then meet an id already claimed.
 *
 * A secret-prefix SHA-256 rather than an HMAC: a one-shot hash costs a quarter of an HMAC
 * object, and every emitted event pays it. Its weakness, length extension, needs the whole
 * digest; an id shows 122 of its 256 bits.
 */
export function childMessageId(parent: string, n: number, key: string): string {
  const h = hash('sha256', `${key}\n${parent}#${n}`, 'hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * What a message id stands for: its type and its payload as the schema parsed it (fields in
 * the schema's order, unknown ones gone), hashed. A re-publish of the same message has the same
 * fingerprint however its JSON was spelt; the same id with another type or payload does not.
 */
export function messageFingerprint(type: string, payload: unknown): string {
  return hash('sha256', `${type}\n${JSON.stringify(payload)}`, 'hex').slice(0, 32);
}
