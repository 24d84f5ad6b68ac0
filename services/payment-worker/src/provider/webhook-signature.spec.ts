import { createHmac } from 'node:crypto';
import { signWebhook, verifyWebhook } from './webhook-signature';

describe('webhook signature', () => {
  const secret = 'a-shared-secret-of-some-length';
  const body = Buffer.from('{"id":"evt_1","type":"payment.captured","data":{"amount":100}}');

  it('is the hex HMAC-SHA256 of the raw body', () => {
    expect(signWebhook(secret, body)).toBe(createHmac('sha256', secret).update(body).digest('hex'));
  });

  it('accepts the genuine signature, as string or AMQP header buffer', () => {
    expect(verifyWebhook(secret, body, signWebhook(secret, body))).toBe(true);
    expect(verifyWebhook(secret, body, Buffer.from(signWebhook(secret, body)))).toBe(true);
  });

  it('refuses a forged signature, a tampered body, and anything that is not a signature', () => {
    expect(verifyWebhook(secret, body, signWebhook('another-secret-entirely', body))).toBe(false);
    expect(verifyWebhook(secret, Buffer.from(body.toString().replace('100', '101')), signWebhook(secret, body))).toBe(false);
    // Same JSON, different bytes: signatures are over bytes, not meaning.
    expect(verifyWebhook(secret, Buffer.from(body.toString().replace(',', ', ')), signWebhook(secret, body))).toBe(false);
    for (const junk of [undefined, null, '', 'abc', 42, signWebhook(secret, body).slice(2)]) expect(verifyWebhook(secret, body, junk)).toBe(false);
  });
});
