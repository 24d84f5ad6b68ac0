import { eventually, startInventory, TestEnv } from '../support';

const PAIRS = 1000;

/**
 * Opposite transfers A→B and B→A, fired together thousands of times. They are keyed by their
 * source, so they run on two partitions at once and each locks both rows; the canonical lock
 * order means neither can wait on the other in a cycle. Postgres' own deadlock counter for
 * the test database must not move, and stock must be conserved.
 */
describe('deadlock freedom', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('opposite transfers never deadlock and conserve stock', async () => {
    env = await TestEnv.create('deadlock', { partitions: 8 });
    const { log, lines } = env.captureLog();
    await startInventory(env, { BATCH_SIZE: 1, PREFETCH: 50 }, { log });
    await startInventory(env, { BATCH_SIZE: 5, PREFETCH: 50 });
    const pub = await env.publisher();
    const tap = await env.tap();
    await Promise.all(['wh-a', 'wh-b'].map((w) => pub.send('RegisterWarehouse', { warehouseId: w, name: w }, { messageId: w })));
    await tap.waitForCount('WarehouseRegistered', 2);
    await Promise.all(['wh-a', 'wh-b'].map((w) => pub.send('ReceiveStock', { productId: 'sku-x', warehouseId: w, quantity: 500 }, { messageId: `in-${w}` })));
    await tap.waitForCount('StockReceived', 2);
    const [before] = await env.query<{ deadlocks: string }>('SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()');

    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < PAIRS; i++) {
      sends.push(pub.send('TransferStock', { productId: 'sku-x', fromWarehouseId: 'wh-a', toWarehouseId: 'wh-b', quantity: 1 + (i % 3) }, { messageId: `ab-${i}` }));
      sends.push(pub.send('TransferStock', { productId: 'sku-x', fromWarehouseId: 'wh-b', toWarehouseId: 'wh-a', quantity: 1 + (i % 2) }, { messageId: `ba-${i}` }));
    }
    await Promise.all(sends);
    await eventually(async () => {
      const [r] = await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.inbox WHERE type = 'TransferStock'`);
      expect(Number(r!.n)).toBe(2 * PAIRS);
    }, 120_000);

    const rows = await env.query<{ warehouse_id: string; on_hand: number }>(`SELECT warehouse_id, on_hand FROM inventory.stock WHERE product_id = 'sku-x' ORDER BY warehouse_id`);
    expect(rows.reduce((s, r) => s + r.on_hand, 0)).toBe(1000);
    expect(rows.every((r) => r.on_hand >= 0)).toBe(true);
    const [after] = await env.query<{ deadlocks: string }>('SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()');
    expect(Number(after!.deadlocks) - Number(before!.deadlocks)).toBe(0);
    expect(lines.filter((l) => /deadlock detected|40P01/i.test(l))).toEqual([]);
    const applied = tap.distinct('StockTransferred').length + tap.distinct('StockTransferRejected').length;
    await eventually(() => expect(tap.distinct('StockTransferred').length + tap.distinct('StockTransferRejected').length).toBe(2 * PAIRS), 60_000);
    expect(applied).toBeLessThanOrEqual(2 * PAIRS);
  }, 300_000);
});
