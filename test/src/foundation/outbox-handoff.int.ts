import { eventsExchange } from '@stockflow/shared';
import { eventually, startInventory, TestEnv, workerMetric } from '../support';
import { registerWarehouses } from './fixtures';

/**
 * The worker hands the outbox rows it just committed to its own relay, which publishes them
 * without reading them back. Reads of the table still happen (periodically, and on anybody
 * else's NOTIFY) and must neither publish a handed-off row twice nor miss a row nobody handed off.
 */
describe('outbox hand-off', () => {
  let env: TestEnv;
  afterEach(async () => env?.cleanup());

  it('publishes every committed event exactly once, by hand-off, and still finds rows nobody handed off', async () => {
    env = await TestEnv.create('outbox-handoff');
    const worker = await startInventory(env, { INSTANCE_ID: 'inv-handoff', HTTP_PORT: 0 });
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);

    // Enough traffic over 1–2 s that the relay's periodic table reads overlap hand-offs.
    const N = 600;
    for (let i = 0; i < N; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => pub.send('ReceiveStock', { productId: `sku-${(i + j) % 37}`, warehouseId: 'wh-1', quantity: 1 }, { messageId: `rs-${i + j}` })));
    }
    await tap.waitForCount('StockReceived', N, 60_000);
    await tap.waitForCount('StockChanged', N, 60_000);
    await env.waitIdle(30_000, ['inventory']);
    await new Promise((r) => setTimeout(r, 500));
    const ids = tap.events.map((e) => e.messageId);
    expect(ids.length).toBe(1 + 2 * N);
    expect(new Set(ids).size).toBe(ids.length);
    const byHandoff = await workerMetric(worker, 'stockflow_outbox_published_total', { via: 'handoff' });
    const byTable = await workerMetric(worker, 'stockflow_outbox_published_total', { via: 'table' });
    expect(byHandoff + byTable).toBe(1 + 2 * N);
    // Most rows must come by hand-off (the point of it); reads may take a share.
    expect(byHandoff).toBeGreaterThan(N);

    // A row committed by someone who never hands it over: another instance (foreign NOTIFY)
    // and a lost hand-off of our own (our NOTIFY, no hand-off) are both published from the table.
    const insert = (messageId: string, notifyAs: string) =>
      env.query(
        `WITH o AS (INSERT INTO inventory.outbox (message_id, type, exchange, routing_key, mandatory, properties, payload)
                    VALUES ($1, 'StockChanged', $2, 'StockChanged.x', false, '{}', '{"manual":true}') RETURNING 1)
         SELECT pg_notify('inventory_outbox', $3) FROM o`,
        [messageId, eventsExchange(env.namespace), notifyAs],
      );
    await insert('manual-foreign', 'some-other-instance');
    await insert('manual-lost-handoff', 'inv-handoff');
    await eventually(() => expect(tap.events.map((e) => e.messageId)).toEqual(expect.arrayContaining(['manual-foreign', 'manual-lost-handoff'])), 10_000);
    await eventually(async () => expect(await env.query('SELECT id FROM inventory.outbox')).toEqual([]), 10_000);
    expect(await workerMetric(worker, 'stockflow_outbox_published_total', { via: 'table' })).toBe(byTable + 2);
  });
});
