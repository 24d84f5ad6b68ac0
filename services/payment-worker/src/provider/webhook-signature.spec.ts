import { createHmac } from 'node:crypto';
import { signWebhook, verifyWebhook, WEBHOOK_TOLERANCE_S } from './webhook-signature';

describe('webhook signature', () => {
  const secret = 'a-shared-secret-of-some-length';
  const body = Buffer.from('{"id":"evt_1","type":"payment.captured","data":{"amount":100}}');
  const now = 1_800_000_000;
  const at = { nowS: now, toleranceS: WEBHOOK_TOLERANCE_S };

  it('is t=<seconds>,v1=<hex HMAC-SHA256 of "<t>." and the raw body>', () => {
    const mac = createHmac('sha256', secret).update(`${now}.${body.toString()}`).digest('hex');
    expect(signWebhook(secret, body, now)).toBe(`t=${now},v1=${mac}`);
  });

  it('accepts the genuine signature, as string or AMQP header buffer, and with a second (rotated) v1', () => {
    const header = signWebhook(secret, body, now);
    expect(verifyWebhook(secret, body, header, at)).toEqual({ ok: true, timestamp: now });
    expect(verifyWebhook(secret, body, Buffer.from(header), at)).toEqual({ ok: true, timestamp: now });
    const old = signWebhook('the-previous-secret-value', body, now).split(',')[1];
    expect(verifyWebhook(secret, body, `${header},${old}`, at).ok).toBe(true);
  });

  it('refuses a forged signature, a tampered body and a re-signed timestamp', () => {
    expect(verifyWebhook(secret, body, signWebhook('another-secret-entirely', body, now), at)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyWebhook(secret, Buffer.from(body.toString().replace('100', '101')), signWebhook(secret, body, now), at)).toEqual({ ok: false, reason: 'mismatch' });
    // Same JSON, different bytes: signatures are over bytes, not meaning.
    expect(verifyWebhook(secret, Buffer.from(body.toString().replace(',', ', ')), signWebhook(secret, body, now), at).ok).toBe(false);
    // A captured signature with a fresh timestamp pasted in: the HMAC covers the timestamp.
    const v1 = signWebhook(secret, body, now - 3600).split(',')[1];
    expect(verifyWebhook(secret, body, `t=${now},${v1}`, at)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('refuses a genuine signature outside the tolerance either way, unless told not to look', () => {
    const old = signWebhook(secret, body, now - WEBHOOK_TOLERANCE_S - 1);
    expect(verifyWebhook(secret, body, old, at)).toEqual({ ok: false, reason: 'stale' });
    expect(verifyWebhook(secret, body, signWebhook(secret, body, now + WEBHOOK_TOLERANCE_S + 1), at)).toEqual({ ok: false, reason: 'stale' });
    expect(verifyWebhook(secret, body, signWebhook(secret, body, now - WEBHOOK_TOLERANCE_S), at).ok).toBe(true);
    expect(verifyWebhook(secret, body, old, { nowS: now, toleranceS: Infinity }).ok).toBe(true);
  });

  it('calls anything that is not a signature missing or malformed', () => {
    for (const junk of [undefined, null, '', 42]) expect(verifyWebhook(secret, body, junk, at)).toEqual({ ok: false, reason: 'missing' });
    const hex = signWebhook(secret, body, now).split('v1=')[1]!;
    for (const junk of ['abc', hex, `v1=${hex}`, `t=${now}`, `t=soon,v1=${hex}`, `t=${now},v1=${hex.slice(2)}`]) {
      expect(verifyWebhook(secret, body, junk, at)).toEqual({ ok: false, reason: 'malformed' });
    }
  });
});
