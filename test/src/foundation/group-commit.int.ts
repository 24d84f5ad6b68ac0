import { Client } from 'pg';
import { HEADER, partitionOf, PermanentMessageError, stockKey, type WorkItem } from '@stockflow/shared';
import { keysPerPartition } from '../scaling/traffic';
import { eventually, startInventory, TestEnv, workerMetric } from '../support';
import { registerWarehouses, totals } from './fixtures';

/**
 * Group commit (TX_CONCURRENCY): batches of different partitions that become ready while a
 * transaction runs go together in the next one. A merged transaction that fails is retried as
 * its separate batches, so a poison message costs only itself: it is dead-lettered alone and
 * the other partitions' messages in the same transaction are applied, each exactly once.
 * A transaction stuck on a row lock holds one slot; the second opens after TX_OVERLAP_MS.
 */
describe('group commit', () => {
  let env: TestEnv;
  let lockEnv: TestEnv | undefined;
  let blocker: Client | undefined;
  afterAll(async () => {
    await blocker?.end().catch(() => undefined);
    await lockEnv?.cleanup();
    await env?.cleanup();
  });

  it('merges the batches of several partitions and isolates a poison message in a merged transaction', async () => {
    env = await TestEnv.create('group-commit');
    const partitions = env.topology.partitions;
    const partitionOfItem = (i: WorkItem) => partitionOf(i.envelope.partitionKey, partitions);
    // One product per partition: the gate's partition and three others.
    const skus = keysPerPartition(partitions, 1).map((k) => k.productId);
    const [gateSku, poisonSku, ...otherSkus] = skus;
    const isGate = (i: WorkItem) => i.envelope.messageId === 'gate';
    let releaseGate: () => void = () => undefined;
    const gate = new Promise<void>((r) => (releaseGate = r));
    const transactions: { partitions: Set<number>; poison: boolean }[] = [];

    const worker = await startInventory(env, { TX_CONCURRENCY: 1, BATCH_SIZE: 10, HTTP_PORT: 0 }, {
      testHooks: {
        async beforeCommit(items) {
          const poison = items.some((i) => i.envelope.messageId === 'poison');
          transactions.push({ partitions: new Set(items.map(partitionOfItem)), poison });
          // Holds the only transaction slot until every other batch is waiting behind it.
          if (items.some(isGate)) await gate;
          if (poison) throw new PermanentMessageError('handler_error', 'simulated bug on the poison message');
        },
      },
    });
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);

    const fresh: string[] = [];
    const send = async (sku: string, id: string) => {
      await pub.send('ReceiveStock', { productId: sku, warehouseId: 'wh-1', quantity: 1 }, { messageId: id });
      if (id !== 'poison') fresh.push(id);
    };
    // A new subscription takes one message at a time until its first batch commits (probation):
    // one message per partition first, so the batches below are whole.
    for (const sku of skus) await send(sku, `warm-${sku}`);
    await tap.waitForCount('StockReceived', fresh.length, 30_000);

    await send(gateSku!, 'gate');
    await eventually(async () => expect(transactions.some((t) => t.partitions.has(partitionOf(stockKey(gateSku!, 'wh-1'), partitions)))).toBe(true));
    // Each partition takes what it has the moment it is free, so the poison heads its batch.
    await send(poisonSku!, 'poison');
    await send(poisonSku!, 'after-poison');
    for (const sku of otherSkus) for (let i = 0; i < 3; i++) await send(sku, `${sku}-${i}`);
    // Every partition's batch is delivered and queued behind the gate before it opens.
    await new Promise((r) => setTimeout(r, 500));
    releaseGate();

    await tap.waitForCount('StockReceived', fresh.length, 30_000);
    const dead = await eventually(async () => {
      const msgs = await env.peekDeadQueues('inventory');
      expect(msgs.length).toBeGreaterThanOrEqual(1);
      return msgs;
    }, 30_000);
    expect(dead.map((d) => d.messageId)).toEqual(['poison']);
    expect(dead[0]!.headers[HEADER.reason]).toBe('handler_error');

    // The poison went into a transaction together with other partitions' batches, which then
    // committed without it.
    const merged = transactions.find((t) => t.poison && t.partitions.size > 2);
    expect({ merged, transactions }).toMatchObject({ merged: expect.anything() });
    // Ops see it too: some transactions carried more than one partition's batch.
    const alone = await workerMetric(worker, 'stockflow_merged_batches_bucket', { le: '1' });
    expect(await workerMetric(worker, 'stockflow_merged_batches_count')).toBeGreaterThan(alone);
    const applied = await env.query<{ message_id: string }>(`SELECT message_id FROM inventory.inbox WHERE type = 'ReceiveStock'`);
    expect(applied.map((r) => r.message_id).sort()).toEqual([...fresh].sort());
    const t = await totals(env);
    expect(t.onHand).toBe(fresh.length);
    expect(t.ledgerRows).toBe(fresh.length);
  });
  it('keeps the other partitions going while one transaction waits on a row lock (the second slot)', async () => {
    lockEnv = await TestEnv.create('group-commit-lock');
    const e = lockEnv;
    const partitions = e.topology.partitions;
    const skus = keysPerPartition(partitions, 1).slice(0, 4).map((k) => k.productId);
    const [lockedSku, ...freeSkus] = skus;
    // The defaults: two transaction slots, the second opening after TX_OVERLAP_MS.
    await startInventory(e, { HTTP_PORT: 0 });
    const pub = await e.publisher();
    const tap = await e.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    for (const sku of skus) await pub.send('ReceiveStock', { productId: sku, warehouseId: 'wh-1', quantity: 1 }, { messageId: `seed-${sku}` });
    await tap.waitForCount('StockReceived', skus.length, 30_000);

    // Somebody else (a paused former owner, say) holds the locked sku's row.
    blocker = new Client({ connectionString: e.databaseUrl });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM inventory.stock WHERE product_id = $1 FOR UPDATE`, [lockedSku]);
    await pub.send('ReceiveStock', { productId: lockedSku!, warehouseId: 'wh-1', quantity: 1 }, { messageId: 'blocked' });
    await eventually(async () => {
      const waiting = await e.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'stockflow:inventory-worker:%' AND wait_event_type = 'Lock'`);
      expect(waiting.length).toBe(1);
    }, 10_000);

    const sentAt = Date.now();
    for (const sku of freeSkus) await pub.send('ReceiveStock', { productId: sku, warehouseId: 'wh-1', quantity: 1 }, { messageId: `free-${sku}` });
    await tap.waitFor((events) => freeSkus.every((sku) => events.some((ev) => ev.causationId === `free-${sku}`)), 10_000);
    // Applied beside the waiting transaction, long before lock_timeout (20 s) would end it.
    expect(Date.now() - sentAt).toBeLessThan(10_000);
    expect(tap.ofType('StockReceived').some((ev) => ev.causationId === 'blocked')).toBe(false);

    await blocker.query('COMMIT');
    await tap.waitFor((events) => events.some((ev) => ev.type === 'StockReceived' && ev.causationId === 'blocked'), 30_000);
    const t = await totals(e);
    expect(t.onHand).toBe(2 * skus.length);
    expect(t.ledgerRows).toBe(2 * skus.length);
  });
});
