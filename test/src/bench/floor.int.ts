import { commandExchange, partitionLabel } from '@stockflow/shared';
import { Teardown } from '@stockflow/testkit/support/teardown';
import { readMetrics, startFloor, type BenchWorker } from '@stockflow/testkit/bench/workers';
import { eventually, TestEnv } from '../support/test-env';
import type { EventTap } from '../support/event-tap';

/**
 * Limit (c) of the bench is only a yardstick if it keeps the guarantees it stands for: each
 * fresh receipt applied once (stock by the sum, a ledger row, one outcome event), a duplicate
 * absorbed without an event, bad input dead-lettered, and no outbox row left once confirmed
 * (the workers measured after it share the outbox).
 */
describe('bench limit (c): the floor process', () => {
  let env: TestEnv;
  let tap: EventTap;
  const teardown = new Teardown();
  let floor: BenchWorker;

  beforeAll(async () => {
    env = await TestEnv.create('floor', { partitions: 4 });
    await env.query(`INSERT INTO inventory.warehouse (id, name) VALUES ('wh-f', 'floor')`);
    floor = await startFloor({ DATABASE_URL: env.databaseUrl, AMQP_URL: env.amqpUrl, STOCKFLOW_NAMESPACE: env.namespace, PARTITIONS: '4' }, teardown);
    tap = await env.tap();
  }, 60_000);

  afterAll(async () => {
    await teardown.close();
    await env.cleanup();
  }, 60_000);

  it('applies each fresh receipt once, absorbs duplicates, dead-letters bad input and empties its outbox', async () => {
    const pub = await env.publisher();
    const keys = ['a', 'b', 'c'];
    const fresh = Array.from({ length: 300 }, (_, i) => ({ id: `fr-${i}`, productId: `p-${keys[i % 3]}`, quantity: 1 + (i % 5) }));
    await Promise.all(fresh.map((r) => pub.send('ReceiveStock', { productId: r.productId, warehouseId: 'wh-f', quantity: r.quantity }, { messageId: r.id })));
    // Re-publishes of the first 50, after their originals.
    await Promise.all(fresh.slice(0, 50).map((r) => pub.send('ReceiveStock', { productId: r.productId, warehouseId: 'wh-f', quantity: r.quantity }, { messageId: r.id })));
    // Bad input last, and alone: the group it ends must not ack a tag its nack settled.
    await pub.sendRaw(commandExchange(env.namespace, 'inventory'), partitionLabel(0, 4), Buffer.from('{not json'), { messageId: 'fr-bad', type: 'ReceiveStock', persistent: true });
    await eventually(async () => expect((await env.peekDeadQueues('inventory')).length).toBe(1), 30_000);
    await pub.send('ReceiveStock', { productId: 'p-a', warehouseId: 'wh-f', quantity: 1 }, { messageId: 'fr-after' });

    await eventually(async () => expect((await readMetrics([floor])).handled).toBe(352), 30_000);
    fresh.push({ id: 'fr-after', productId: 'p-a', quantity: 1 });
    // The floor counts a group as handled at its commit; its outcome events reach the tap after.
    await eventually(async () => expect(tap.distinct('StockReceived').map((e) => e.causationId).sort()).toEqual(fresh.map((r) => r.id).sort()), 30_000);

    const stock = await env.query<{ product_id: string; on_hand: number }>(`SELECT product_id, on_hand FROM inventory.stock WHERE warehouse_id = 'wh-f' ORDER BY product_id`);
    const sums = keys.map((k) => ({ product_id: `p-${k}`, on_hand: fresh.filter((r) => r.productId === `p-${k}`).reduce((a, r) => a + r.quantity, 0) }));
    expect(stock).toEqual(sums);
    const ledger = await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.ledger WHERE warehouse_id = 'wh-f'`);
    expect(Number(ledger[0]!.n)).toBe(301);
    const dead = await env.drainDeadQueues('inventory');
    expect(dead.map((d) => d.messageId)).toEqual(['fr-bad']);

    await floor.stop();
    const left = await env.query<{ n: string }>('SELECT count(*) AS n FROM inventory.outbox');
    expect(Number(left[0]!.n)).toBe(0);
  }, 60_000);
});
