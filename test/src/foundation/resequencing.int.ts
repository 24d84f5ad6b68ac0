import type { Channel, ConsumeMessage } from 'amqplib';
import { HEADER, partitionQueue, purgeInbox, routeOf } from '@stockflow/shared';
import { eventually, startInventory, TestEnv, workerMetric } from '../support';
import { registerWarehouses } from './fixtures';

const N = 10;
const KEY = { productId: 'sku-reseq', warehouseId: 'wh-1' };

/** Takes up to `n` deliveries on a fresh channel with prefetch n, then closes it (they all go back). */
async function holdAndReturn(open: () => Promise<Channel>, queue: string, n: number): Promise<number[]> {
  const ch = await open();
  await ch.prefetch(n);
  const got: ConsumeMessage[] = [];
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`only ${got.length} of ${n} deliveries`)), 10_000);
    void ch.consume(queue, (m) => {
      if (!m) return;
      got.push(m);
      if (got.length === n) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  await ch.close();
  return got.map((m) => Number(m.properties.headers?.[HEADER.sequence]));
}

/**
 * The broker reorders a key's messages when one is returned twice: a quorum queue serves
 * returned messages from a FIFO list, so a message whose consumer dies again while holding it
 * goes behind the ones returned with it the first time. This test builds exactly that on the
 * real broker (hold all ten, die; hold the first, die again: the queue now serves 2..10, 1),
 * then starts a worker. With the resequencer the worker applies 1..10; with it switched off
 * it applies 2..10 and then 1, which shows the test can fail.
 */
describe.each([
  { label: 'resequencer on', gapWaitMs: 10_000, expected: Array.from({ length: N }, (_, i) => i + 1) },
  { label: 'resequencer off (SEQUENCE_GAP_WAIT_MS=0)', gapWaitMs: 0, expected: [...Array.from({ length: N - 1 }, (_, i) => i + 2), 1] },
])('per-key order after a message is returned twice, $label', ({ gapWaitMs, expected }) => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it(`applies the key's messages in the order ${expected.join(',')}`, async () => {
    env = await TestEnv.create('reseq', { partitions: 2 });
    const setup = await startInventory(env, { SEQUENCE_GAP_WAIT_MS: gapWaitMs });
    const pub = await env.publisher({ autoSequence: true });
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    await setup.stop();

    const route = routeOf(env.topology, 'ReceiveStock', `${KEY.productId}:${KEY.warehouseId}`);
    const queue = partitionQueue(env.namespace, 'inventory', route.partition, env.topology.partitions);
    for (let i = 1; i <= N; i++) await pub.send('ReceiveStock', { ...KEY, quantity: i }, { messageId: `reseq-${i}` });
    const conn = await env.connection('reseq-raw');
    const open = () => conn.createChannel();
    await eventually(async () => expect((await env.queueDepths(['inventory']))[queue]).toBe(N), 10_000);

    expect(await holdAndReturn(open, queue, N)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(await holdAndReturn(open, queue, 1)).toEqual([1]);
    // Precondition: the broker now really serves the key out of order.
    expect(await holdAndReturn(open, queue, N)).toEqual([...Array.from({ length: N - 1 }, (_, i) => i + 2), 1]);

    const worker = await startInventory(env, { SEQUENCE_GAP_WAIT_MS: gapWaitMs });
    await eventually(async () => {
      const [row] = await env.query<{ on_hand: number }>(`SELECT on_hand FROM inventory.stock WHERE product_id = $1`, [KEY.productId]);
      expect(row?.on_hand).toBe((N * (N + 1)) / 2);
    }, 30_000);
    const applied = await env.query<{ sequence: string }>(`SELECT sequence FROM inventory.inbox WHERE partition_key = $1 ORDER BY seq`, [`${KEY.productId}:${KEY.warehouseId}`]);
    expect(applied.map((r) => Number(r.sequence))).toEqual(expected);
    expect((await worker.runtime.metrics.sequenceGaps.get()).values[0]?.value ?? 0).toBe(0);
    // Every delivery was acked: nothing goes back to the queue when the worker stops (acking
    // "up to the batch's last" by delivery tag would miss the ones sorted before it).
    await worker.stop();
    expect((await env.queueDepths(['inventory']))[queue]).toBe(0);
  });
});

/**
 * Sequences are numbered per publisher session: a restarted publisher starts again at 1 in a
 * numbering of its own, which the workers order on its own. Without sessions the new 1, 2 were
 * taken for the old numbering (already past them) and applied in whatever order the broker
 * served them. And a stream's newest inbox row outlives the inbox retention, so a purge leaves
 * no false gap behind.
 */
describe('per-key order across a publisher restart and an inbox purge', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('a restarted publisher\'s messages, returned twice out of order, are applied in its order', async () => {
    env = await TestEnv.create('reseq-restart', { partitions: 2 });
    const worker = await startInventory(env, { HTTP_PORT: 0 });
    const first = await env.publisher({ autoSequence: true });
    const tap = await env.tap();
    await registerWarehouses(first, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    for (let i = 1; i <= 3; i++) await first.send('ReceiveStock', { ...KEY, quantity: 1 }, { messageId: `before-restart-${i}` });
    await tap.waitForCount('StockReceived', 3);
    await worker.stop();
    await first.close();

    // The publisher restarts: a new session, numbered from 1 again.
    const second = await env.publisher({ autoSequence: true });
    expect(second.sequenceSession).not.toBe(first.sequenceSession);
    await second.send('ReceiveStock', { ...KEY, quantity: 10 }, { messageId: 'after-restart-receive' });
    await second.send('ShipStock', { ...KEY, quantity: 10 }, { messageId: 'after-restart-ship' });
    const route = routeOf(env.topology, 'ReceiveStock', `${KEY.productId}:${KEY.warehouseId}`);
    const queue = partitionQueue(env.namespace, 'inventory', route.partition, env.topology.partitions);
    const conn = await env.connection('reseq-raw');
    const open = () => conn.createChannel();
    await eventually(async () => expect((await env.queueDepths(['inventory']))[queue]).toBe(2), 10_000);
    expect(await holdAndReturn(open, queue, 2)).toEqual([1, 2]);
    expect(await holdAndReturn(open, queue, 1)).toEqual([1]);
    // Precondition: the ship is served before the receipt it needs.
    expect(await holdAndReturn(open, queue, 2)).toEqual([2, 1]);

    const again = await startInventory(env, { HTTP_PORT: 0 });
    await tap.waitForCount('StockShipped', 1, 30_000);
    expect(tap.ofType('StockShipmentRejected')).toEqual([]);
    const applied = await env.query<{ message_id: string }>(`SELECT message_id FROM inventory.inbox WHERE partition_key = $1 ORDER BY seq`, [`${KEY.productId}:${KEY.warehouseId}`]);
    expect(applied.map((r) => r.message_id)).toEqual(['before-restart-1', 'before-restart-2', 'before-restart-3', 'after-restart-receive', 'after-restart-ship']);
    expect(await workerMetric(again, 'stockflow_sequence_gaps_total')).toBe(0);
    await again.stop();
  });

  it('after a purge of a key\'s inbox rows, its next message does not wait for predecessors applied long ago', async () => {
    const worker = await startInventory(env, { HTTP_PORT: 0, SEQUENCE_GAP_WAIT_MS: 60_000 });
    const pub = await env.publisher({ autoSequence: true });
    const tap = await env.tap();
    const key = { productId: 'sku-purged', warehouseId: 'wh-1' };
    for (let i = 1; i <= 3; i++) await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: `purged-${i}` });
    await tap.waitForCount('StockReceived', 3);
    // Retention passes over all of them (as INBOX_RETENTION_MS later would).
    const purged = await purgeInbox((sql, p) => env.query(sql, p), 'inventory', 0, 1000);
    expect(purged).toBeGreaterThanOrEqual(2);
    expect((await env.query<{ message_id: string }>(`SELECT message_id FROM inventory.inbox WHERE partition_key = 'sku-purged:wh-1'`)).map((r) => r.message_id)).toEqual(['purged-3']);
    // A new subscription knows only what the inbox says.
    await worker.stop();
    const again = await startInventory(env, { HTTP_PORT: 0, SEQUENCE_GAP_WAIT_MS: 60_000 });
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'purged-4' });
    await tap.waitForCount('StockReceived', 4, 30_000);
    expect(await workerMetric(again, 'stockflow_sequence_gaps_total')).toBe(0);
  });
});
