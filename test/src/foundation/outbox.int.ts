import { contracts, HEADER } from '@stockflow/shared';
import { eventually, startInventory, startOrders, TestEnv } from '../support';
import { registerWarehouses } from './fixtures';

/**
 * The transactional outbox: an event written by a transaction that rolls back is never
 * published; a relay that dies after the broker confirmed a round but before it deleted the
 * rows publishes them again, and the consumer's inbox absorbs the copies.
 */
describe('outbox', () => {
  let env: TestEnv;
  afterEach(async () => env?.cleanup());

  it('never publishes events of a rolled-back transaction', async () => {
    env = await TestEnv.create('outbox-rb');
    let failures = 0;
    await startInventory(env, { BATCH_SIZE: 10 }, {
      testHooks: {
        beforeCommit(items) {
          // The outbox rows are already written when this throws: COMMIT never happens.
          if (items.some((i) => i.envelope.messageId === 'rolled-back')) {
            failures++;
            throw new Error('this transaction must not commit');
          }
        },
      },
    });
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    await Promise.all([
      pub.send('ReceiveStock', { productId: 'sku-a', warehouseId: 'wh-1', quantity: 1 }, { messageId: 'before' }),
      pub.send('ReceiveStock', { productId: 'sku-a', warehouseId: 'wh-1', quantity: 5 }, { messageId: 'rolled-back' }),
      pub.send('ReceiveStock', { productId: 'sku-a', warehouseId: 'wh-1', quantity: 1 }, { messageId: 'after' }),
    ]);
    await eventually(async () => expect((await env.peekDeadQueues('inventory')).map((d) => d.messageId)).toEqual(['rolled-back']), 30_000);
    await tap.waitForCount('StockReceived', 2);
    await env.waitIdle(30_000, ['inventory']);
    await new Promise((r) => setTimeout(r, 1000));
    expect(failures).toBeGreaterThanOrEqual(1);
    expect(tap.events.filter((e) => e.causationId === 'rolled-back')).toEqual([]);
    expect(tap.distinct('StockReceived').map((e) => e.causationId).sort()).toEqual(['after', 'before']);
    const [row] = await env.query<{ on_hand: number }>(`SELECT on_hand FROM inventory.stock WHERE product_id = 'sku-a'`);
    expect(row?.on_hand).toBe(2);
  });

  it('publishes each row as a persistent JSON message with its id, type, correlation and headers, which the row does not store twice', async () => {
    env = await TestEnv.create('outbox-props');
    const stored: Record<string, unknown>[] = [];
    await startInventory(env, {}, {
      testHooks: {
        // The broker confirmed the round; its rows are still in the table.
        async relayAfterPublish(ids) {
          const rows = await env.query<{ properties: Record<string, unknown> }>(`SELECT properties FROM inventory.outbox WHERE message_id = ANY($1) AND type = 'StockReceived'`, [ids]);
          stored.push(...rows.map((r) => r.properties));
        },
      },
    });
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await pub.send('ReceiveStock', { productId: 'sku-p', warehouseId: 'wh-1', quantity: 2 }, { messageId: 'receive-p', correlationId: 'corr-p' });
    const [event] = await tap.waitForCount('StockReceived', 1);
    expect(event!.properties).toMatchObject({
      messageId: event!.messageId,
      type: 'StockReceived',
      correlationId: 'corr-p',
      contentType: 'application/json',
      deliveryMode: 2,
      headers: expect.objectContaining({ [HEADER.causationId]: 'receive-p', [HEADER.partitionKey]: event!.partitionKey, [HEADER.version]: contracts.StockReceived.version }),
    });
    expect(event!.properties.timestamp).toBeGreaterThan(0);
    // The tap may see the event before the hook's read is back.
    await eventually(() => expect(stored).toHaveLength(1), 10_000);
    expect(Object.keys(stored[0]!).sort()).toEqual(['correlationId', 'headers', 'timestamp']);
  });

  it('republishes after a relay dies between publish and delete; the consumer inbox absorbs it', async () => {
    env = await TestEnv.create('outbox-relay');
    await startInventory(env);
    let kills = 0;
    await startOrders(env, {}, {
      testHooks: {
        relayAfterPublish(ids) {
          // Die once, right after the broker confirmed the round that carries ReserveStock.
          if (kills === 0 && ids.length > 0) {
            kills++;
            throw new Error('relay killed after publish, before delete');
          }
        },
      },
    });
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await pub.send('ReceiveStock', { productId: 'sku-r', warehouseId: 'wh-1', quantity: 10 }, { messageId: 'stock-in' });
    await tap.waitForCount('StockReceived', 1);
    await pub.send('PlaceOrder', { orderId: 'o-1', customerId: 'c-1', currency: 'EUR', lines: [{ productId: 'sku-r', warehouseId: 'wh-1', quantity: 3, unitPrice: 100 }] }, { messageId: 'place-o-1' });

    // OrderPlaced reached the events exchange twice with one messageId: the round was republished.
    await tap.waitFor((events) => events.filter((e) => e.type === 'OrderPlaced').length >= 2, 30_000);
    const placed = tap.ofType('OrderPlaced');
    expect(new Set(placed.map((e) => e.messageId)).size).toBe(1);
    expect(kills).toBe(1);

    await tap.waitForCount('StockReserved', 1);
    // No payment-worker here: the order waits in RESERVED with its RequestPayment queued.
    await env.waitIdle(30_000, ['inventory', 'orders']);
    await new Promise((r) => setTimeout(r, 500));
    // ReserveStock arrived twice at inventory-worker; one inbox row, one reservation, one hold.
    const reserveIds = await env.query<{ message_id: string }>(`SELECT message_id FROM inventory.inbox WHERE type = 'ReserveStock'`);
    expect(reserveIds).toHaveLength(1);
    const stock = await env.query<{ on_hand: number; reserved: number }>(`SELECT on_hand, reserved FROM inventory.stock WHERE product_id = 'sku-r'`);
    expect(stock).toEqual([{ on_hand: 10, reserved: 3 }]);
    expect(await env.query(`SELECT id, status FROM inventory.reservation`)).toEqual([{ id: 'o-1', status: 'held' }]);
    expect(tap.distinct('StockReserved')).toHaveLength(1);
    const [outbox] = await env.query<{ n: string }>('SELECT count(*) AS n FROM orders.outbox');
    expect(Number(outbox!.n)).toBe(0);
  });
});
