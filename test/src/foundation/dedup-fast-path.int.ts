import { once } from 'node:events';
import { connect } from 'node:net';
import { createRedis, DedupFilter } from '@stockflow/shared';
import { keysPerPartition } from '../scaling/traffic';
import { eventually, startInventory, TestEnv, workerMetric } from '../support';
import { keysOverAllPartitions, registerWarehouses, totals } from './fixtures';

/**
 * Every command Redis receives from now on, as its arguments, read off a MONITOR on a plain
 * socket: ioredis's monitor() can fail with "Command queue state error" when commands flow
 * while it switches modes (a worker's expiry sweep always runs), which CI met once.
 */
async function watchRedis(url: string): Promise<{ commands: string[][]; stop: () => void }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port || 6379), hostname);
  await once(socket, 'connect');
  const commands: string[][] = [];
  let buffer = '';
  let ready = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf('\r\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (line === '+OK') ready = true;
      // +1700000000.123456 [0 127.0.0.1:5555] "MGET" "key" ...
      if (!line.startsWith('+') || !line.includes('] "')) continue;
      commands.push([...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1')));
    }
  });
  socket.write('MONITOR\r\n');
  // MONITOR answers +OK before it streams.
  await new Promise<void>((resolve) => {
    const ok = () => (ready ? resolve() : setTimeout(ok, 5));
    ok();
  });
  return { commands, stop: () => socket.destroy() };
}

/**
 * The Redis fast path: a re-published copy of a committed command is acked from Redis, without
 * a Postgres round trip (the inbox would also absorb it: foundation/duplicates.int.ts).
 */
describe('duplicate fast path (Redis)', () => {
  let env: TestEnv;
  let mergeEnv: TestEnv | undefined;
  let aheadEnv: TestEnv | undefined;
  let quietEnv: TestEnv | undefined;
  afterAll(async () => {
    await quietEnv?.cleanup();
    await aheadEnv?.cleanup();
    await mergeEnv?.cleanup();
    await env?.cleanup();
  });

  it('acks copies of committed commands from Redis once duplicates arrive, and applies nothing twice', async () => {
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
    // The first copy nobody announced: the inbox's, and from then on Redis is asked.
    await pub.send('ReceiveStock', { ...keys[0]!, quantity: 1 }, { messageId: 'rcv-0' });
    await eventually(async () => expect(await workerMetric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock', via: 'inbox' })).toBe(1), 30_000);

    await send();
    await eventually(async () => expect(await workerMetric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock', via: 'redis' })).toBe(keys.length), 30_000);
    expect(await workerMetric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock', via: 'inbox' })).toBe(1);
    const t = await totals(env);
    expect(t.onHand).toBe(keys.length);
    expect(t.ledgerRows).toBe(keys.length);
  });

  it('ids remembered just before a lookup go in its pipeline, under the namespace, and that lookup sees them', async () => {
    const e = (mergeEnv = await TestEnv.create('dedup-pipeline'));
    const redis = createRedis(e.redisUrl, e.namespace, e.log, 'dedup-pipeline-test');
    try {
      await redis.connect();
      const filter = new DedupFilter(redis, 'inventory-worker', 60, 'scope1');
      filter.remember([{ id: 'p-1', fingerprint: 'f1' }, { id: 'p-2', fingerprint: 'f2' }]);
      // Sent with this MGET, before it: no timer has fired yet.
      expect(await filter.seen(['p-1', 'p-2', 'p-3'])).toEqual(new Map([['p-1', 'f1'], ['p-2', 'f2']]));
      expect(await e.redis.get('dedup:scope1:inventory-worker:p-1')).toBe('f1');
      expect(await e.redis.ttl('dedup:scope1:inventory-worker:p-2')).toBeGreaterThan(50);
    } finally {
      redis.disconnect();
      await mergeEnv.cleanup();
      mergeEnv = undefined;
    }
  });

  it('remembers the ids of a transaction that merged several partitions in one command, never one per partition batch', async () => {
    mergeEnv = await TestEnv.create('dedup-merge');
    const e = mergeEnv;
    const partitions = e.topology.partitions;
    const skus = keysPerPartition(partitions, 1).map((k) => k.productId);
    const [gateSku, ...otherSkus] = skus;
    let releaseGate: () => void = () => undefined;
    const gate = new Promise<void>((r) => (releaseGate = r));
    let gateHeld = false;
    // One transaction slot, held by the gate until the other partitions' batches wait behind it.
    await startInventory(e, { TX_CONCURRENCY: 1, HTTP_PORT: 0 }, {
      testHooks: {
        async beforeCommit(items) {
          if (!items.some((i) => i.envelope.messageId === 'gate')) return;
          gateHeld = true;
          await gate;
        },
      },
    });
    // What the pipeline asks to remember, per transaction...
    const rememberCalls = jest.spyOn(DedupFilter.prototype, 'remember');
    // ...and what Redis receives, whichever way the worker sends it (alone or in a pipeline).
    const { commands, stop } = await watchRedis(e.redisUrl);
    const dedupPrefix = `${e.namespace}:dedup:`;
    // The EVALs that remember ids (the lease heartbeat is an EVAL too), as the ids they carry.
    const remembered = () =>
      commands
        .filter((c) => c[0]?.toLowerCase() === 'eval')
        .map((c) => c.slice(3, 3 + Number(c[2])))
        .filter((keys) => keys.length > 0 && keys.every((k) => k.startsWith(dedupPrefix)))
        .map((keys) => keys.map((k) => k.slice(k.lastIndexOf(':') + 1)));
    try {
      const pub = await e.publisher();
      const tap = await e.tap();
      await registerWarehouses(pub, ['wh-1']);
      await tap.waitForCount('WarehouseRegistered', 1);
      const receive = (sku: string, id: string) => pub.send('ReceiveStock', { productId: sku, warehouseId: 'wh-1', quantity: 1 }, { messageId: id });
      // A new subscription takes one message at a time until its first batch commits.
      for (const sku of skus) await receive(sku, `warm-${sku}`);
      await tap.waitForCount('StockReceived', partitions, 30_000);
      await eventually(async () => expect(remembered().flat()).toEqual(expect.arrayContaining(skus.map((sku) => `warm-${sku}`))));

      await receive(gateSku!, 'gate');
      await eventually(async () => expect(gateHeld).toBe(true));
      const before = remembered().length;
      const callsBefore = rememberCalls.mock.calls.length;
      for (const sku of otherSkus) await receive(sku, `merged-${sku}`);
      await new Promise((r) => setTimeout(r, 500));
      releaseGate();
      await tap.waitForCount('StockReceived', 2 * partitions, 30_000);
      const merged = otherSkus.map((sku) => `merged-${sku}`).sort();
      await eventually(async () => expect(remembered().slice(before).flat().sort()).toEqual(['gate', ...merged].sort()));
      // Two transactions, the gate's, then one for every other partition's batch: one call
      // each, not one per partition batch...
      const calls = rememberCalls.mock.calls.slice(callsBefore).map(([applied]) => applied.map((a) => a.id).sort());
      expect(calls).toEqual([['gate'], merged]);
      // ...and in Redis at most one command each, the merged one's ids together.
      const commands = remembered().slice(before);
      expect(commands.length).toBeLessThanOrEqual(2);
      expect(commands.some((ids) => merged.every((id) => ids.includes(id)))).toBe(true);
    } finally {
      rememberCalls.mockRestore();
      stop();
    }
  });

  it('looks a delivery up in Redis as it arrives, while its partition\'s batch is still in its transaction', async () => {
    const e = (aheadEnv = await TestEnv.create('dedup-ahead'));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    const worker = await startInventory(e, { HTTP_PORT: 0 }, {
      testHooks: {
        async beforeCommit(items) {
          if (!items.some((i) => i.envelope.messageId === 'gate')) return;
          held = true;
          await gate;
        },
      },
    });
    const { commands, stop } = await watchRedis(e.redisUrl);
    try {
      const pub = await e.publisher();
      const tap = await e.tap();
      await registerWarehouses(pub, ['wh-1']);
      await tap.waitForCount('WarehouseRegistered', 1);
      const receive = (id: string) => pub.send('ReceiveStock', { productId: 'sku-ahead', warehouseId: 'wh-1', quantity: 1 }, { messageId: id });
      // Past the new subscription's one-at-a-time start.
      await receive('warm');
      await tap.waitForCount('StockReceived', 1, 30_000);
      // A copy, caught by the inbox: duplicates arrive, so every arrival is looked up (DuplicateWatch).
      await receive('warm');
      await eventually(async () => expect(await workerMetric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock', via: 'inbox' })).toBe(1), 30_000);
      await receive('gate');
      await eventually(async () => expect(held).toBe(true));
      const behind = ['ahead-1', 'ahead-2', 'ahead-3'];
      for (const id of behind) await receive(id);
      const dedupPrefix = `${e.namespace}:dedup:`;
      const looked = () =>
        commands
          .filter((c) => c[0]?.toLowerCase() === 'mget')
          .flatMap((c) => c.slice(1).filter((k) => k.startsWith(dedupPrefix)))
          .map((k) => k.slice(k.lastIndexOf(':') + 1));
      // Same partition, so they wait behind the gate's batch; their lookups do not.
      await eventually(async () => expect(looked()).toEqual(expect.arrayContaining(behind)));
      expect(await e.redis.exists(`dedup:${worker.runtime.identity.scope}:inventory-worker:gate`)).toBe(0);
      release();
      await tap.waitForCount('StockReceived', 5, 30_000);
      // One lookup each: the batch used what was looked up on arrival.
      expect(looked().filter((id) => behind.includes(id)).sort()).toEqual(behind);
    } finally {
      release();
      stop();
    }
  });

  it('asks Redis nothing about fresh traffic once duplicates stopped, and again from the first duplicate the inbox catches', async () => {
    const e = (quietEnv = await TestEnv.create('dedup-quiet'));
    const worker = await startInventory(e, { HTTP_PORT: 0 }, { testHooks: { duplicatesRecentMs: 300 } });
    const pub = await e.publisher();
    const tap = await e.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    const keys = keysOverAllPartitions(24, e.topology.partitions);
    const send = (prefix: string) => Promise.all(keys.map((k, i) => pub.send('ReceiveStock', { ...k, quantity: 1 }, { messageId: `${prefix}-${i}` })));
    await send('first');
    await tap.waitForCount('StockReceived', keys.length, 30_000);
    // A duplicate opens the window; then longer than the window with none.
    await registerWarehouses(pub, ['wh-1']);
    await eventually(async () => expect(await workerMetric(worker, 'stockflow_duplicates_total', { type: 'RegisterWarehouse', via: 'inbox' })).toBe(1), 30_000);
    await new Promise((r) => setTimeout(r, 400));
    const { commands, stop } = await watchRedis(e.redisUrl);
    const dedupPrefix = `${e.namespace}:dedup:`;
    const lookups = () => commands.filter((c) => c[0]?.toLowerCase() === 'mget' && c.slice(1).some((k) => k.startsWith(dedupPrefix))).length;
    const duplicates = async () => ({
      redis: await workerMetric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock', via: 'redis' }),
      inbox: await workerMetric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock', via: 'inbox' }),
    });
    try {
      await send('fresh');
      await tap.waitForCount('StockReceived', 2 * keys.length, 30_000);
      expect(lookups()).toBe(0);

      // Copies nobody announced: the inbox absorbs the first ones, the rest may already be looked up.
      await send('first');
      await eventually(async () => {
        const d = await duplicates();
        expect(d.redis + d.inbox).toBe(keys.length);
        expect(d.inbox).toBeGreaterThan(0);
      }, 30_000);
      const before = await duplicates();
      await send('fresh');
      await eventually(async () => expect((await duplicates()).redis - before.redis).toBe(keys.length), 30_000);
      expect(lookups()).toBeGreaterThan(0);
      const t = await totals(e);
      expect(t.onHand).toBe(2 * keys.length);
      expect(t.ledgerRows).toBe(2 * keys.length);
    } finally {
      stop();
    }
  });
});
