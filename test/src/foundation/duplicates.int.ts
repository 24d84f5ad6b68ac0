import { partitionQueue, propertiesOf, type Publisher } from '@stockflow/shared';
import { eventually, startInventory, TestEnv, workerMetric } from '../support';
import { registerWarehouses } from './fixtures';

/**
 * The same message id arriving 20 times at once: ten re-publishes on its own partition, ten
 * copies injected into every other partition queue (so several consumers claim it at the
 * same instant), and forced redeliveries by dropping the connection after COMMIT, before ack.
 */
describe.each([
  { label: 'with the Redis fast path', fastPath: 'true' },
  { label: 'inbox only (Redis fast path off)', fastPath: 'false' },
])('duplicates: 20 concurrent deliveries of one message id, $label', ({ fastPath }) => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('applies the effect exactly once and keeps one inbox row', async () => {
    env = await TestEnv.create('dup');
    let dropsLeft = 3;
    // OWNERSHIP=all: both workers subscribe to every partition and single active consumer
    // picks one per queue (which one changes at each handover), so both carry the hook that
    // drops the committing worker's connection before its ack.
    type Worker = Awaited<ReturnType<typeof startInventory>>;
    const dropAfterCommit = (self: () => Worker | undefined) => ({
      testHooks: {
        afterCommit(items: { envelope: { messageId: string } }[]) {
          if (items.some((i) => i.envelope.messageId === 'dup-receipt') && dropsLeft-- > 0) self()?.amqpConnection?.destroySocket();
        },
      },
    });
    let first: Worker | undefined;
    let other: Worker | undefined;
    const worker = (first = await startInventory(env, { DEDUP_FAST_PATH: fastPath, OWNERSHIP: 'all' }, dropAfterCommit(() => first)));
    const second = (other = await startInventory(env, { DEDUP_FAST_PATH: fastPath, OWNERSHIP: 'all' }, dropAfterCommit(() => other)));
    const tap = await env.tap();
    const pub: Publisher = await env.publisher();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);

    const payload = { productId: 'sku-dup', warehouseId: 'wh-1', quantity: 7 };
    const { envelope, route, body } = pub.prepare('ReceiveStock', payload, { messageId: 'dup-receipt' });
    const copies: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) copies.push(pub.send('ReceiveStock', payload, { messageId: 'dup-receipt' }));
    for (let i = 0; i < 10; i++) {
      const partition = (route.partition + 1 + (i % (env.topology.partitions - 1))) % env.topology.partitions;
      const queue = partitionQueue(env.namespace, 'inventory', partition, env.topology.partitions);
      copies.push(pub.sendRaw(`${env.namespace}.commands.inventory`, queue.slice(queue.lastIndexOf('.p') + 2), body, propertiesOf(envelope)));
    }
    await Promise.all(copies);

    await eventually(async () => {
      const [row] = await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.inbox WHERE message_id = 'dup-receipt'`);
      expect(Number(row!.n)).toBe(1);
      const queues = await Promise.all(
        Array.from({ length: env.topology.partitions }, async (_, p) => {
          const conn = await env.connection(`depth-${p}`);
          const ch = await conn.createChannel();
          const q = await ch.checkQueue(partitionQueue(env.namespace, 'inventory', p, env.topology.partitions));
          await ch.close();
          return q.messageCount;
        }),
      );
      expect(queues.every((n) => n === 0)).toBe(true);
    }, 30_000);
    await new Promise((r) => setTimeout(r, 500));

    const stock = await env.query<{ on_hand: number; version: number }>(`SELECT on_hand, version FROM inventory.stock WHERE product_id = 'sku-dup'`);
    expect(stock).toEqual([{ on_hand: 7, version: 1 }]);
    const ledger = await env.query(`SELECT * FROM inventory.ledger WHERE message_id = 'dup-receipt'`);
    expect(ledger).toHaveLength(1);
    await tap.waitForCount('StockReceived', 1);
    expect(tap.distinct('StockReceived')).toHaveLength(1);
    expect(dropsLeft).toBeLessThan(3);
    await Promise.all([worker.stop(), second.stop()]);
  });
});

describe('duplicates: the same flood with the inbox sabotaged', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('applies the effect more than once (so the test above can fail)', async () => {
    env = await TestEnv.create('dup-sabotage');
    const sabotage = { STOCKFLOW_SABOTAGE: 'no-inbox', STOCKFLOW_ALLOW_SABOTAGE: 'i-know-this-breaks-things', DEDUP_FAST_PATH: 'false' };
    const worker = await startInventory(env, sabotage);
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    const payload = { productId: 'sku-dup', warehouseId: 'wh-1', quantity: 7 };
    await Promise.all(Array.from({ length: 20 }, () => pub.send('ReceiveStock', payload, { messageId: 'dup-receipt' })));
    await eventually(async () => {
      const [row] = await env.query<{ on_hand: number }>(`SELECT on_hand FROM inventory.stock WHERE product_id = 'sku-dup'`);
      expect(row?.on_hand).toBe(7 * 20);
    });
    await worker.stop();
  });
});

/**
 * A transaction declares (and for receipts and adjustments, creates up front) the rows of every
 * message before its inbox claim has told the duplicates apart: both go to Postgres in one
 * round trip. A transaction of nothing but duplicates must still remove such rows again.
 */
describe('duplicates: a copy of a refused adjustment, inbox only', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('leaves no empty stock row behind, so the item stays unknown', async () => {
    env = await TestEnv.create('dup-refused');
    const worker = await startInventory(env, { DEDUP_FAST_PATH: 'false', HTTP_PORT: 0 });
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);

    const key = { productId: 'sku-never', warehouseId: 'wh-1' };
    const adjust = () => pub.send('AdjustStock', { mode: 'delta', ...key, delta: -3, reason: 'damaged' }, { messageId: 'dup-refused-adjust' });
    await adjust();
    await tap.waitForCount('StockAdjustmentRejected', 1);
    await adjust();
    await eventually(async () => expect(await workerMetric(worker, 'stockflow_duplicates_total', { type: 'AdjustStock', via: 'inbox' })).toBe(1), 30_000);
    expect(await env.query('SELECT * FROM inventory.stock WHERE product_id = $1', [key.productId])).toEqual([]);

    // Same key, same partition, after the copy: an empty row would make this insufficient_stock.
    await pub.send('ShipStock', { ...key, quantity: 1 }, { messageId: 'ship-never' });
    const [refusal] = await tap.waitForCount('StockShipmentRejected', 1);
    expect(refusal!.payload).toMatchObject({ reason: 'unknown_item' });
    await worker.stop();
  });
});
