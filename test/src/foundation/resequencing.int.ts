import type { Channel, ConsumeMessage } from 'amqplib';
import { HEADER, partitionQueue, routeOf } from '@stockflow/shared';
import { eventually, startInventory, TestEnv } from '../support';
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
