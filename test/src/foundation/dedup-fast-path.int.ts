import { keysPerPartition } from '../scaling/traffic';
import { eventually, startInventory, TestEnv, workerMetric } from '../support';
import { keysOverAllPartitions, registerWarehouses, totals } from './fixtures';

/**
 * The Redis fast path: a re-published copy of a committed command is acked from Redis, without
 * a Postgres round trip (the inbox would also absorb it: foundation/duplicates.int.ts).
 */
describe('duplicate fast path (Redis)', () => {
  let env: TestEnv;
  let mergeEnv: TestEnv | undefined;
  afterAll(async () => {
    await mergeEnv?.cleanup();
    await env?.cleanup();
  });

  it('acks copies of committed commands from Redis and applies nothing twice', async () => {
    env = await TestEnv.create('dedup-fast');
    const worker = await startInventory(env, { HTTP_PORT: 0 });
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    const keys = keysOverAllPartitions(24, env.topology.partitions);
    const send = () => Promise.all(keys.map((k, i) => pub.send('ReceiveStock', { ...k, quantity: 1 }, { messageId: `rcv-${i}` })));
    await send();
    await tap.waitForCount('StockReceived', keys.length, 30_000);

    await send();
    await eventually(async () => expect(await workerMetric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock', via: 'redis' })).toBe(keys.length), 30_000);
    expect(await workerMetric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock', via: 'inbox' })).toBe(0);
    const t = await totals(env);
    expect(t.onHand).toBe(keys.length);
    expect(t.ledgerRows).toBe(keys.length);
  });

  it('remembers the ids of a transaction that merged several partitions with one command', async () => {
    mergeEnv = await TestEnv.create('dedup-merge');
    const e = mergeEnv;
    const partitions = e.topology.partitions;
    const skus = keysPerPartition(partitions, 1).map((k) => k.productId);
    const [gateSku, ...otherSkus] = skus;
    let releaseGate: () => void = () => undefined;
    const gate = new Promise<void>((r) => (releaseGate = r));
    let gateHeld = false;
    // One transaction slot, held by the gate until the other partitions' batches wait behind it.
    const worker = await startInventory(e, { TX_CONCURRENCY: 1, HTTP_PORT: 0 }, {
      hooks: {
        async beforeCommit(items) {
          if (!items.some((i) => i.envelope.messageId === 'gate')) return;
          gateHeld = true;
          await gate;
        },
      },
    });
    const redisEval = jest.spyOn(worker.runtime.redis!, 'eval');
    // Only the dedup filter's calls (the lease heartbeat is an EVAL on the same client too).
    const remembered = () =>
      redisEval.mock.calls.map((c) => c.slice(2, 2 + Number(c[1])) as string[]).filter((keys) => keys.length > 0 && keys.every((k) => k.startsWith('dedup:')));
    const pub = await e.publisher();
    const tap = await e.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    const receive = (sku: string, id: string) => pub.send('ReceiveStock', { productId: sku, warehouseId: 'wh-1', quantity: 1 }, { messageId: id });
    // A new subscription takes one message at a time until its first batch commits.
    for (const sku of skus) await receive(sku, `warm-${sku}`);
    await tap.waitForCount('StockReceived', partitions, 30_000);

    await receive(gateSku!, 'gate');
    await eventually(async () => expect(gateHeld).toBe(true));
    const before = remembered().length;
    for (const sku of otherSkus) await receive(sku, `merged-${sku}`);
    await new Promise((r) => setTimeout(r, 500));
    releaseGate();
    await tap.waitForCount('StockReceived', 2 * partitions, 30_000);
    await eventually(async () => expect(remembered().length).toBeGreaterThanOrEqual(before + 2));
    // The gate's transaction, then one for every other partition's batch.
    const calls = remembered().slice(before);
    expect(calls.map((keys) => keys.length)).toEqual([1, otherSkus.length]);
    expect(calls[1]!.map((k) => k.slice(k.lastIndexOf(':') + 1)).sort()).toEqual(otherSkus.map((sku) => `merged-${sku}`).sort());
  });
});
