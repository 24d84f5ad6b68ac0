import { randomUUID } from 'node:crypto';
import type { Channel } from 'amqplib';
import { Publisher } from '@stockflow/client';
import { AmqpConnection, ConfirmPublisher, parseBrokerUrls, redactUrl, type Logger } from '@stockflow/client/internal';
import { LOCAL_DEFAULTS } from '../support/services';

/**
 * A broker address list against the real broker, no worker: the first address is a dead node
 * (nothing listens on port 1) with a password of its own, the second the live broker. The
 * connection and a Publisher get past the dead node, publish with confirms, and after a cut
 * try the dead node again first (the next address) before coming back to the live one.
 */
const LIVE = parseBrokerUrls(process.env.AMQP_URL ?? LOCAL_DEFAULTS.AMQP_URL)[0]!;
const DEAD_PASSWORD = 'dead-node-s3cret';
const DEAD = `amqp://guest:${DEAD_PASSWORD}@127.0.0.1:1`;
const LIST = `${DEAD} , ${LIVE}`;

function recordingLogger() {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const at = (fieldsOrMessage: object | string, message?: string): void => {
    if (typeof fieldsOrMessage === 'string') lines.push({ fields: {}, message: fieldsOrMessage });
    else lines.push({ fields: fieldsOrMessage as Record<string, unknown>, message: message ?? '' });
  };
  const log: Logger = { debug: at, info: at, warn: at, error: at };
  return { log, lines };
}

describe('a broker address list', () => {
  const queue = `t-broker-list-${randomUUID().slice(0, 8)}`;
  const closers: (() => Promise<unknown>)[] = [];
  let admin: Channel | undefined;

  afterAll(async () => {
    await admin?.deleteQueue(queue).catch(() => undefined);
    for (const close of closers.reverse()) await close().catch(() => undefined);
  });

  /** Waits for `count` messages on the queue and acks them. */
  async function take(ch: Channel, count: number): Promise<string[]> {
    const got: string[] = [];
    const deadline = Date.now() + 10_000;
    while (got.length < count && Date.now() < deadline) {
      const m = await ch.get(queue, { noAck: true });
      if (m) got.push(m.content.toString());
      else await new Promise((r) => setTimeout(r, 20));
    }
    return got;
  }

  it('connects past a dead first node, publishes with confirms, and after a cut tries the next address first', async () => {
    const { log, lines } = recordingLogger();
    const conn = new AmqpConnection({ url: LIST, name: `${queue}-conn`, heartbeatS: 10, retryBaseMs: 50, retryMaxMs: 500, connectTimeoutMs: 10_000, firstAddress: 0, log });
    closers.push(() => conn.close());
    const connects: string[] = [];
    conn.on('connect', (_generation, address) => connects.push(address));
    await conn.start();
    expect(conn.address).toBe(redactUrl(LIVE));
    admin = await conn.createChannel();
    // Outlives the cut below (an exclusive queue would not); expires if the test is killed.
    await admin.assertQueue(queue, { durable: false, arguments: { 'x-expires': 60_000 } });
    const publisher = new ConfirmPublisher(conn, log, 10_000);
    closers.push(() => publisher.stop());
    await publisher.start();
    await publisher.publish('', queue, Buffer.from('before'), { messageId: 'before', mandatory: true });

    const reconnected = new Promise((resolve) => conn.once('connect', resolve));
    conn.destroySocket();
    await reconnected;
    await publisher.publish('', queue, Buffer.from('after'), { messageId: 'after', mandatory: true });
    expect(conn.generation).toBe(2);
    admin = await conn.createChannel();
    expect(await take(admin, 2)).toEqual(['before', 'after']);

    const failures = lines.filter((l) => l.message.startsWith('amqp connect failed'));
    // Once before the first connection, once after the cut: the dead node is the next address both times.
    expect(failures.map((l) => l.fields.address)).toEqual([redactUrl(DEAD), redactUrl(DEAD)]);
    expect(failures.every((l) => l.fields.retryInMs === undefined)).toBe(true);
    expect(connects).toEqual([redactUrl(LIVE), redactUrl(LIVE)]);
    expect(JSON.stringify(lines)).not.toContain(DEAD_PASSWORD);
  }, 30_000);

  it('gives a Publisher the list as its url', async () => {
    const { log, lines } = recordingLogger();
    const pub = await Publisher.connect({ url: LIST, name: `${queue}-publisher`, connectTimeoutMs: 10_000, log });
    closers.push(() => pub.close());
    expect(pub.connection.address).toBe(redactUrl(LIVE));
    expect(pub.connection.addresses).toEqual([redactUrl(DEAD), redactUrl(LIVE)]);
    const ch = await pub.connection.createChannel();
    await ch.assertQueue(queue, { durable: false, arguments: { 'x-expires': 60_000 } });
    await pub.sendRaw('', queue, Buffer.from('from-publisher'), { messageId: 'from-publisher', mandatory: true });
    expect(await take(ch, 1)).toEqual(['from-publisher']);
    await ch.close();
    expect(JSON.stringify(lines)).not.toContain(DEAD_PASSWORD);
  }, 30_000);

  it('refuses a list with a bad entry before connecting, without its password', async () => {
    const err = await Publisher.connect({ url: `${LIVE},http://guest:${DEAD_PASSWORD}@127.0.0.1:1`, connectTimeoutMs: 1000 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('BrokerUrlError');
    expect(err?.message).toBe('broker address 2 of 2 ("http://guest:***@127.0.0.1:1"): protocol must be one of amqp:, amqps:');
  });
});
