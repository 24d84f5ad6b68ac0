import { examples, Publisher, PublishError, ValidationError } from '@stockflow/client';
import { TestEnv } from '../support';

/** The client's Publisher against a real broker, for what needs no worker. */
describe('Publisher', () => {
  let env: TestEnv;
  let pub: Publisher;
  beforeAll(async () => {
    env = await TestEnv.create('client-publisher');
    pub = await Publisher.connect({ url: env.amqpUrl, namespace: env.namespace, partitions: env.topology.partitions });
  });
  afterAll(async () => {
    await pub?.close();
    await env?.cleanup();
  });

  it("refuses a ProviderWebhook without the provider's signature, naming the header", () => {
    expect(() => pub.prepare('ProviderWebhook', examples.ProviderWebhook)).toThrow(ValidationError);
    expect(() => pub.prepare('ProviderWebhook', examples.ProviderWebhook)).toThrow(/x-signature: required, the provider's HMAC/);
  });

  it('previews without using up a sequence number', () => {
    const a = pub.prepare('ReceiveStock', examples.ReceiveStock, { messageId: 'a' });
    const b = pub.prepare('ReceiveStock', examples.ReceiveStock, { messageId: 'b' });
    expect([a.envelope.sequence, b.envelope.sequence]).toEqual([1, 1]);
    expect(a.envelope.sequenceSession).toBe(pub.sequenceSession);
  });

  it('uses up no sequence number for a message it refuses', async () => {
    const key = { productId: 'sku-seq', warehouseId: 'wh-1' };
    const first = await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'seq-1' }).catch((err: unknown) => err);
    expect(first).not.toBeInstanceOf(ValidationError);
    // Refused by the worker's own checks, after the payload passed its schema: an invalid id.
    await expect(pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'seq bad' })).rejects.toThrow(ValidationError);
    expect(pub.prepare('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'seq-2' }).envelope.sequence).toBe(2);
  });

  // Closed, a send must not wait its 60 s send timeout for a connection that will not come.
  it('fails a send at once once closed', async () => {
    const closed = await Publisher.connect({ url: env.amqpUrl, namespace: env.namespace, partitions: env.topology.partitions, sendTimeoutMs: 60_000 });
    await closed.close();
    await expect(closed.send('ReceiveStock', examples.ReceiveStock)).rejects.toThrow(new PublishError('publisher closed', 'channel_closed'));
  }, 20_000);
});
