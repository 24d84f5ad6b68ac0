import { stockKey, TransientError } from '@stockflow/shared';
import { eventually, startInventory, terminatePgSessions, TestEnv } from '../support';
import { keysOverAllPartitions, registerWarehouses, totals } from './fixtures';

const KEYS = 50;
const PER_KEY = 100;

/**
 * 5,000 messages over 50 keys, each key numbered 1..100 by the publisher. A transient error
 * is injected in the middle of one key's stream (the batch rolls back and is retried in place)
 * and every worker Postgres session is killed once mid-stream. Per key, the order in which
 * messages were applied (inbox.seq, ledger.id) must follow the publisher's sequence exactly.
 */
describe.each([
  { label: 'batched (50 per transaction)', batch: 50 },
  { label: 'one transaction per message', batch: 1 },
])('per-partition order, $label', ({ batch }) => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('applies 5k messages over 50 keys in publish order despite retries', async () => {
    env = await TestEnv.create('order', { partitions: 8 });
    const keys = keysOverAllPartitions(KEYS, 8);
    const victim = stockKey(keys[7]!.productId, keys[7]!.warehouseId);
    let injected = 0;
    const worker = await startInventory(env, { BATCH_SIZE: batch, PREFETCH: 200 }, {
      testHooks: {
        beforeCommit(items) {
          if (injected < 2 && items.some((i) => i.envelope.partitionKey === victim && i.envelope.sequence === PER_KEY / 2)) {
            injected++;
            throw new TransientError('injected transient failure');
          }
        },
      },
    });
    const pub = await env.publisher({ autoSequence: true });
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);

    const sends: Promise<unknown>[] = [];
    for (let n = 0; n < PER_KEY; n++) {
      for (const k of keys) sends.push(pub.send('ReceiveStock', { ...k, quantity: 1 }, { messageId: `${k.productId}-${n}` }));
    }
    await Promise.all(sends);
    await eventually(async () => expect((await totals(env)).onHand).toBeGreaterThanOrEqual(2000), 60_000, 20);
    expect(await terminatePgSessions(env.databaseUrl, `inventory-worker:${worker.config.instanceId}`)).toBeGreaterThan(0);

    await eventually(async () => expect((await totals(env)).onHand).toBe(KEYS * PER_KEY), 120_000);
    expect(injected).toBe(2);

    const violations = await env.query<{ partition_key: string; seq: string; sequence: string; prev: string }>(`
      SELECT partition_key, seq, sequence, prev FROM (
        SELECT partition_key, seq, sequence, lag(sequence) OVER (PARTITION BY partition_key ORDER BY seq) AS prev
        FROM inventory.inbox WHERE type = 'ReceiveStock') x
      WHERE prev IS NOT NULL AND sequence <> prev + 1`);
    expect(violations).toEqual([]);
    const ledgerOrder = await env.query<{ bad: string }>(`
      SELECT count(*) AS bad FROM (
        SELECT i.sequence, lag(i.sequence) OVER (PARTITION BY l.product_id ORDER BY l.id) AS prev
        FROM inventory.ledger l JOIN inventory.inbox i ON i.message_id = l.message_id) x
      WHERE prev IS NOT NULL AND sequence <= prev`);
    expect(Number(ledgerOrder[0]!.bad)).toBe(0);
    const perKey = await env.query<{ n: string; min: string; max: string }>(`
      SELECT count(*) AS n, min(sequence) AS min, max(sequence) AS max FROM inventory.inbox WHERE type = 'ReceiveStock' GROUP BY partition_key`);
    expect(perKey).toHaveLength(KEYS);
    expect(perKey.every((r) => Number(r.n) === PER_KEY && Number(r.min) === 1 && Number(r.max) === PER_KEY)).toBe(true);
    await worker.stop();
  });
});
