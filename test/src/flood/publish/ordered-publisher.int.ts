import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { AmqpConnection } from '@stockflow/shared';
import { OrderedPublisher, type OutgoingMessage } from '@stockflow/testkit/flood/publish/ordered-publisher';

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const MESSAGES = 600;
const RATE = 200;
/** The binding is missing this long, mid-stream: about a third of the messages come back at least once. */
const UNBOUND_MS = 1_500;

/**
 * The flood's publisher is the careful upstream the per-key order invariant assumes: a message
 * that comes back unroutable (somebody removed its binding) is sent again, and none of its
 * route's later messages may overtake it once the binding is back.
 */
describe('flood ordered publisher', () => {
  const name = `t-ordpub-${randomUUID().slice(0, 8)}`;
  const conn = new AmqpConnection({ url: AMQP_URL, name, heartbeatS: 10, retryBaseMs: 100, retryMaxMs: 1000, log: pino({ level: 'silent' }) });
  afterAll(async () => {
    const ch = await conn.createChannel().catch(() => undefined);
    await ch?.deleteQueue(name).catch(() => undefined);
    await ch?.deleteExchange(name).catch(() => undefined);
    await conn.close();
  });

  it('keeps a route in publish order across a binding that went missing for a while', async () => {
    await conn.start();
    const ch = await conn.createChannel();
    await ch.assertExchange(name, 'direct', { durable: false, autoDelete: false });
    await ch.assertQueue(name, { durable: false, autoDelete: false });
    await ch.bindQueue(name, name, 'r');
    const publisher = new OrderedPublisher({ conn, log: pino({ level: 'silent' }), maxInFlight: 100, rate: RATE });
    await publisher.start();
    const failed: number[] = [];
    const msg = (i: number): OutgoingMessage => ({
      i,
      exchange: name,
      routingKey: 'r',
      body: Buffer.from(String(i)),
      properties: { messageId: `m-${i}` },
      onSent: () => undefined,
      onConfirmed: () => undefined,
      onFailed: () => failed.push(i),
    });
    for (let i = 0; i < MESSAGES; i++) publisher.push(msg(i));
    await new Promise((r) => setTimeout(r, 500));
    await ch.unbindQueue(name, name, 'r');
    await new Promise((r) => setTimeout(r, UNBOUND_MS));
    await ch.bindQueue(name, name, 'r');
    await publisher.idle();
    publisher.close();

    const received: number[] = [];
    for (let m = await ch.get(name, { noAck: true }); m; m = await ch.get(name, { noAck: true })) received.push(Number(m.content.toString()));
    expect(failed).toEqual([]);
    expect(publisher.retried).toBeGreaterThan(MESSAGES / 10);
    const overtaken = received.filter((v, k) => k > 0 && v < received[k - 1]!);
    expect(overtaken).toEqual([]);
    expect(new Set(received).size).toBe(MESSAGES);
  }, 60_000);
});
