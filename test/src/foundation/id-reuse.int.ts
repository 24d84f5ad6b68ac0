import { createHash } from 'node:crypto';
import { HEADER, type UnitOfWork, type Worker } from '@stockflow/shared';
import { Saga } from '../orders/harness';
import { eventually, startInventory, TestEnv, workerMetric } from '../support';
import { adminQuery, dropDatabase } from '@stockflow/testkit/support/template-db';
import { registerWarehouses, totals } from './fixtures';

/**
 * A message id is deduplicated with what it stands for. The same id with another type or
 * payload is refused (dead-lettered, id_reused) rather than acked as a duplicate without a
 * word, whether the inbox or the Redis fast path meets it; the ids workers give their own
 * messages cannot be taken first by anybody upstream; and a Redis that outlived its database
 * cannot make a fresh command vanish.
 */
describe('message ids reused', () => {
  let env: TestEnv;
  let worker: Worker<UnitOfWork>;
  const key = { productId: 'sku-reuse', warehouseId: 'wh-1' };
  afterAll(async () => env?.cleanup());

  const dead = async (n: number) =>
    eventually(async () => {
      const d = await env.peekDeadQueues('inventory');
      expect(d).toHaveLength(n);
      return d;
    });

  it('the same id with another payload or type is dead-lettered as id_reused, via the fast path and via the inbox; an exact copy is a duplicate', async () => {
    env = await TestEnv.create('id-reuse');
    worker = await startInventory(env, { HTTP_PORT: 0 });
    const pub = await env.publisher();
    await registerWarehouses(pub, ['wh-1']);
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'reuse-1' });
    await eventually(async () => expect((await totals(env)).onHand).toBe(1));

    // Redis remembers reuse-1: the copy is acked there; the other payload and type are not.
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'reuse-1' });
    await pub.send('ReceiveStock', { ...key, quantity: 5 }, { messageId: 'reuse-1' });
    await pub.send('ShipStock', { ...key, quantity: 1 }, { messageId: 'reuse-1' });
    const viaRedis = await dead(2);
    expect(viaRedis.map((d) => [d.type, d.headers[HEADER.reason]])).toEqual([
      ['ReceiveStock', 'id_reused'],
      ['ShipStock', 'id_reused'],
    ]);
    await env.drainDeadQueues('inventory');

    // Without Redis, the inbox tells them apart the same way.
    await env.redis.flushdb();
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'reuse-1' });
    await pub.send('ReceiveStock', { ...key, quantity: 7 }, { messageId: 'reuse-1' });
    const viaInbox = await dead(1);
    expect(viaInbox.map((d) => [d.type, d.headers[HEADER.reason], (JSON.parse(d.body) as { quantity: number }).quantity])).toEqual([['ReceiveStock', 'id_reused', 7]]);
    await env.drainDeadQueues('inventory');

    expect(await totals(env)).toMatchObject({ onHand: 1, ledgerRows: 1 });
    expect(await workerMetric(worker, 'stockflow_id_reused_total')).toBe(3);
    expect(await workerMetric(worker, 'stockflow_duplicates_total')).toBe(2);
  });

  it('one batch holding an id twice: a copy beside a reuse is a duplicate, a reuse beside the first is refused', async () => {
    await worker.stop();
    const pub = await env.publisher();
    // Applied one at a time while the new subscription is on probation; the rest come in one batch.
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'warm-up' });
    await pub.send('ReceiveStock', { ...key, quantity: 2 }, { messageId: 'same-batch' });
    await pub.send('ReceiveStock', { ...key, quantity: 3 }, { messageId: 'same-batch' });
    // reuse-1 was applied with quantity 1 (and Redis remembers it): its copy and a reuse, together.
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'reuse-1' });
    await pub.send('ReceiveStock', { ...key, quantity: 9 }, { messageId: 'reuse-1' });
    const before = { onHand: (await totals(env)).onHand };
    worker = await startInventory(env, { HTTP_PORT: 0, BATCH_SIZE: 10, BATCH_WAIT_MS: 300 });
    const d = await dead(2);
    expect(d.map((m) => [m.messageId, m.headers[HEADER.reason], (JSON.parse(m.body) as { quantity: number }).quantity]).sort()).toEqual([
      ['reuse-1', 'id_reused', 9],
      ['same-batch', 'id_reused', 3],
    ]);
    await env.drainDeadQueues('inventory');
    expect((await totals(env)).onHand).toBe(before.onHand + 1 + 2);
    expect(await workerMetric(worker, 'stockflow_id_reused_total')).toBe(2);
    expect(await workerMetric(worker, 'stockflow_messages_total', { outcome: 'duplicate' })).toBe(1);
    expect(await workerMetric(worker, 'stockflow_batch_messages_count')).toBeGreaterThan(0);
  });

  it('a Redis that outlived its database cannot make a fresh command vanish', async () => {
    const pub = await env.publisher();
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'before-reset' });
    await eventually(async () => expect(await env.query(`SELECT 1 FROM inventory.inbox WHERE message_id = 'before-reset'`)).toHaveLength(1));
    await worker.stop();
    // The database is dropped and made again under the same name; Redis keeps its keys.
    await env.pg.end();
    await dropDatabase(env.serverUrl, env.database);
    await adminQuery(env.serverUrl, `CREATE DATABASE "${env.database}" TEMPLATE "${process.env.STOCKFLOW_TEST_TEMPLATE}"`);
    env.reconnectPg();
    worker = await startInventory(env, { HTTP_PORT: 0 });
    await registerWarehouses(pub, ['wh-1']);
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'before-reset' });
    await eventually(async () => expect(await env.query(`SELECT 1 FROM inventory.inbox WHERE message_id = 'before-reset'`)).toHaveLength(1));
    expect((await totals(env)).onHand).toBe(1);
  });
});

describe('ids of the messages workers emit', () => {
  let saga: Saga;
  afterAll(async () => saga?.stop());

  it('cannot be taken first by an upstream that knows the parent id', async () => {
    saga = await Saga.start('child-ids');
    await saga.stockUp(5);
    // What a child id was, computable by anyone: the second message PlaceOrder emits is its
    // ReserveStock. Sent first, under that id, it used to make the real one a "duplicate".
    const h = createHash('sha1').update('place-child-1#1').digest('hex');
    const guessed = `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    await saga.pub.send('ReserveStock', { reservationId: 'squatter', lines: [{ productId: 'sku-1', warehouseId: 'wh-1', quantity: 1 }], ttlMs: 60_000 }, { messageId: guessed });
    await saga.placeOrder('child-1');
    const [row] = await saga.assertConsistent(['child-1']);
    expect(row!.status).toBe('CONFIRMED');
    const reserve = await saga.env.query<{ message_id: string }>(`SELECT message_id FROM inventory.inbox WHERE type = 'ReserveStock' AND partition_key = 'child-1'`);
    expect(reserve).toHaveLength(1);
    expect(reserve[0]!.message_id).not.toBe(guessed);
  });
});
