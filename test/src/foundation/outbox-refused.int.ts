import type { Channel } from 'amqplib';
import {
  ConfirmPublisher,
  declareTopology,
  deliveryOf,
  eventsExchange,
  OutboxRelay,
  partitionOf,
  partitionQueue,
  RetryPolicy,
  TopologyRepair,
  WORKER_KINDS,
  type AmqpConnection,
  type MessageType,
} from '@stockflow/shared';
import { ops } from '../ops/run-ops';
import { eventually, TestEnv } from '../support';

/**
 * Outbox rows the broker refuses, against the real broker: an event whose consumer queue was
 * deleted is retried after the topology is declared again (a watcher bound to the events
 * exchange does not make it look delivered), without a row of its key overtaking it and
 * without anything confirmed being published twice; a row that stays unroutable is parked with
 * the rest of its key while every other key flows, and comes back, in order, once an operator
 * has fixed the route and asked for a retry.
 */
describe('outbox rows the broker refuses', () => {
  let env: TestEnv;
  let conn: AmqpConnection;
  let admin: Channel;
  let relay: OutboxRelay | undefined;
  const refused: string[] = [];

  beforeAll(async () => {
    env = await TestEnv.create('outbox-refused');
    conn = await env.connection('relay');
    await declareTopology(() => conn.createChannel(), env.topology, WORKER_KINDS);
    admin = await (await env.connection('admin')).createChannel();
    const publisher = new ConfirmPublisher(conn, env.log);
    await publisher.start();
    const repair = new TopologyRepair(() => declareTopology(() => conn.createChannel(), env.topology, WORKER_KINDS));
    relay = env.track(
      new OutboxRelay({
        url: env.databaseUrl,
        schema: 'inventory',
        applicationName: 't-refused',
        partitions: env.topology.partitions,
        publisher,
        log: env.log,
        pollMs: 100,
        // Two rows a round: a refused row and the rows after it meet in later rounds too.
        batch: 2,
        deleteDelayMs: 0,
        retryMaxMs: 500,
        policy: new RetryPolicy(20, 200),
        leaseTtlMs: 5000,
        renewMs: 1000,
        repairTopology: () => repair.repair(),
        onRefused: (kind) => refused.push(kind),
      }),
    );
    relay.start();
  });
  afterAll(async () => env?.cleanup());

  const partitions = () => env.topology.partitions;
  const ordersQueue = (key: string) => partitionQueue(env.namespace, 'orders', partitionOf(key, partitions()), partitions());
  /** Keys on two different partitions. */
  const twoKeys = (prefix: string): [string, string] => {
    const a = `${prefix}-a`;
    for (let i = 0; ; i++) if (partitionOf(`${prefix}-${i}`, partitions()) !== partitionOf(a, partitions())) return [a, `${prefix}-${i}`];
  };
  /** Outbox rows as the pipeline writes them (deliveryOf), or to a hand-made route. */
  async function write(rows: { id: string; type: MessageType; key: string; to?: string }[]): Promise<void> {
    for (const r of rows) {
      const route = deliveryOf(env.topology, r.type, r.key);
      await env.query(
        `INSERT INTO inventory.outbox (message_id, type, exchange, routing_key, mandatory, properties, payload, watch_exchange, watch_routing_key) VALUES ($1, $2, $3, $4, true, $5, $6, $7, $8)`,
        [r.id, r.type, route.exchange, r.to ?? route.routingKey, JSON.stringify({ headers: { 'x-partition-key': r.key } }), JSON.stringify({ reservationId: r.key }), route.watch?.exchange ?? null, route.watch?.routingKey ?? null],
      );
    }
  }
  /** Everything in a queue, in order (taken out by a consumer: partition queues refuse basic.get). */
  async function take(queue: string): Promise<string[]> {
    const ch = await (await env.connection('take')).createChannel();
    const ids: string[] = [];
    let last = Date.now();
    const { consumerTag } = await ch.consume(queue, (m) => {
      if (!m) return;
      ids.push(String(m.properties.messageId));
      last = Date.now();
    }, { noAck: true });
    while (Date.now() - last < 500) await new Promise((r) => setTimeout(r, 100));
    await ch.cancel(consumerTag);
    await ch.close();
    return ids;
  }

  it('with a watcher on the events exchange, an event whose consumer queue was deleted waits for the topology to be declared again; nothing is lost to the watcher, nothing goes twice', async () => {
    const [a, b] = twoKeys('gone');
    // A watcher: through a binding, an event would still have been routed (to it) and confirmed.
    const watcher = `${env.namespace}.watcher`;
    await admin.assertQueue(watcher, { durable: false });
    try {
      await admin.bindQueue(watcher, eventsExchange(env.namespace), '#');
      await admin.deleteQueue(ordersQueue(a));
      await write([
        { id: 'r1', type: 'StockReserved', key: a },
        { id: 'r2', type: 'ReservationCommitted', key: a },
        { id: 'r3', type: 'ReservationReleased', key: b },
      ]);
      await eventually(async () => expect(await env.query('SELECT id FROM inventory.outbox')).toEqual([]), 20_000);
      expect(refused).toContain('unroutable');
      expect(await take(ordersQueue(a))).toEqual(['r1', 'r2']);
      expect(await take(ordersQueue(b))).toEqual(['r3']);
      expect((await take(watcher)).sort()).toEqual(['r1', 'r2', 'r3']);
      expect(await env.query('SELECT id FROM inventory.outbox_parked')).toEqual([]);
    } finally {
      // No topology knows this queue: the env's cleanup would leave it behind.
      await admin.deleteQueue(watcher);
    }
  });

  it('a row that stays unroutable is parked with the later rows of its key, other keys flow, and an operator\'s retry after the fix publishes them in order', async () => {
    const [c, d] = twoKeys('park');
    // A queue no topology declares: whatever is declared again, nothing routes there.
    const nowhere = `${env.namespace}.nowhere`;
    await write([
      { id: 'c1', type: 'StockReserved', key: c, to: nowhere },
      { id: 'c2', type: 'ReservationReleased', key: c },
      { id: 'd1', type: 'ReservationReleased', key: d },
      { id: 'd2', type: 'ReservationCommitted', key: d },
    ]);
    await eventually(async () => expect((await env.query<{ message_id: string }>('SELECT message_id FROM inventory.outbox_parked ORDER BY id')).map((r) => r.message_id)).toEqual(['c1', 'c2']), 20_000);
    await write([
      { id: 'c3', type: 'ReservationCommitted', key: c },
      { id: 'd3', type: 'ReservationReleased', key: d },
    ]);
    await eventually(async () => expect((await env.query<{ message_id: string }>('SELECT message_id FROM inventory.outbox_parked ORDER BY id')).map((r) => r.message_id)).toEqual(['c1', 'c2', 'c3']), 20_000);
    await eventually(async () => expect(await env.query('SELECT id FROM inventory.outbox')).toEqual([]), 20_000);
    expect(await take(ordersQueue(d))).toEqual(['d1', 'd2', 'd3']);
    expect(await take(ordersQueue(c))).toEqual([]);

    const listed = await ops(env, ['outbox', 'parked', 'inventory', '--json']);
    expect(JSON.parse(listed.out)).toEqual([
      expect.objectContaining({ service: 'inventory-worker', partitionKey: c, rows: 3, head: expect.objectContaining({ messageId: 'c1', attempts: 5, reason: expect.stringMatching(/^transient unroutable/) }) }),
    ]);
    expect((await ops(env, ['status'])).out).toMatch(/inventory-worker: 3 outbox row\(s\) parked/);

    // The fix: the queue exists now. Then the operator asks for a retry.
    const { queue: fixed } = await admin.assertQueue(nowhere, { durable: false, autoDelete: true });
    expect(await ops(env, ['outbox', 'retry', 'inventory', '--key', c])).toMatchObject({ code: 0, out: expect.stringContaining('retry 1 parked key') });
    await eventually(async () => expect(await env.query('SELECT id FROM inventory.outbox_parked')).toEqual([]), 20_000);
    await eventually(async () => expect(await env.query('SELECT id FROM inventory.outbox')).toEqual([]), 20_000);
    expect(await take(fixed)).toEqual(['c1']);
    expect(await take(ordersQueue(c))).toEqual(['c2', 'c3']);
  });
});
