import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Provider webhooks carry `x-signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where the HMAC,
 * keyed with the shared WEBHOOK_SECRET, covers `<t>.` followed by the exact body bytes. Signing
 * the timestamp with the body lets the gateway refuse a replay of an old, genuinely signed
 * webhook: a copy captured on the way verifies only within WEBHOOK_TOLERANCE_S of when it was
 * signed (Stripe's scheme). Several v1 entries may be present (the provider signs with an old
 * and a new secret while they are rotated); one that matches is enough.
 */
export const WEBHOOK_TOLERANCE_S = 300;

export type SignatureVerdict = { ok: true; timestamp: number } | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' | 'stale' };

export function signWebhook(secret: string, body: Buffer | string, timestamp: number): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, body).toString('hex')}`;
}

/**
 * Verifies over the exact bytes received (re-serialised JSON would not match), in constant time
 * so the comparison does not leak how much of a guess was right. `toleranceS` bounds how far
 * the signed timestamp may be from `nowS` (either way: clocks differ); Infinity skips the check
 * (a message that waited in a queue after the gateway checked it).
 */
export function verifyWebhook(secret: string, body: Buffer, header: unknown, opts: { nowS: number; toleranceS: number }): SignatureVerdict {
  const text = typeof header === 'string' ? header : Buffer.isBuffer(header) ? header.toString('utf8') : undefined;
  if (text === undefined || text.length === 0) return { ok: false, reason: 'missing' };
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of text.split(',')) {
    const [k, v] = part.trim().split('=', 2) as [string, string | undefined];
    if (k === 't' && v !== undefined && /^\d{1,12}$/.test(v)) timestamp = Number(v);
    else if (k === 'v1' && v !== undefined && /^[0-9a-f]{64}$/i.test(v)) signatures.push(Buffer.from(v, 'hex'));
  }
  if (timestamp === undefined || signatures.length === 0 || signatures.length > 8) return { ok: false, reason: 'malformed' };
  const expected = hmac(secret, timestamp, body);
  if (!signatures.some((s) => timingSafeEqual(expected, s))) return { ok: false, reason: 'mismatch' };
  if (Math.abs(opts.nowS - timestamp) > opts.toleranceS) return { ok: false, reason: 'stale' };
  return { ok: true, timestamp };
}

function hmac(secret: string, timestamp: number, body: Buffer | string): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}
