import { createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC-SHA256 of the raw body with the shared secret, hex: the x-signature header value. */
export function signWebhook(secret: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * Verifies over the exact bytes received (re-serialised JSON would not match), in constant
 * time so the comparison does not leak how many leading characters were right.
 */
export function verifyWebhook(secret: string, body: Buffer, signature: unknown): boolean {
  const given = typeof signature === 'string' ? signature : Buffer.isBuffer(signature) ? signature.toString('utf8') : undefined;
  if (!given || !/^[0-9a-f]{64}$/i.test(given)) return false;
  const expected = Buffer.from(signWebhook(secret, body), 'hex');
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}
