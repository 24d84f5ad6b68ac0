import type { InventoryUnitOfWork } from '@stockflow/inventory-worker';
import type { Publisher, Worker } from '@stockflow/shared';
import { eventually, startInventory, TestEnv, workerGet as get, workerMetric as metric } from '../support';
import { TcpProxy } from '../scaling/tcp-proxy';
import { warehouseReady } from '../scaling/traffic';

const P = 4;

/**
 * /livez, /readyz and /metrics of a real worker: the numbers move with the traffic the test
 * sends, and readiness follows its dependencies and its partition ownership.
 */
describe('health endpoints and metrics', () => {
  let env: TestEnv;
  let worker: Worker<InventoryUnitOfWork>;
  let pub: Publisher;
  let proxy: TcpProxy | undefined;
  let drops = 0;
  /** Resolved when the transaction carrying 'slow-tx' reaches its COMMIT, which then waits for `slowGate`. */
  let slowEntered: () => void = () => undefined;
  let slowGate: Promise<void> = Promise.resolve();
  beforeAll(async () => {
    env = await TestEnv.create('metrics', { partitions: P });
    worker = await startInventory(env, { HTTP_PORT: 0, LEASE_TTL_MS: 1000, HEARTBEAT_MS: 100, EXPIRY_POLL_MS: 50 }, {
      testHooks: {
        async beforeCommit(items) {
          if (!items.some((i) => i.envelope.messageId === 'slow-tx')) return;
          slowEntered();
          await slowGate;
        },
        afterCommit(items) {
          // One forced redelivery: the connection drops after COMMIT, before the ack.
          if (items.some((i) => i.envelope.messageId === 'redeliver-me') && drops++ === 0) worker.amqpConnection!.destroySocket();
        },
      },
    });
    pub = await env.publisher();
    await warehouseReady(env, pub);
  });
  afterAll(async () => {
    await proxy?.stop();
    await env?.cleanup();
  });

  it('/livez and /readyz say ok, with each check named', async () => {
    expect(await get(worker, '/livez')).toEqual({ status: 200, body: 'ok\n' });
    const ready = await get(worker, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready', amqp: true, postgres: true, redis: true, partitions: true });
    expect(await metric(worker, 'stockflow_partitions_owned')).toBe(P);
    expect(await metric(worker, 'stockflow_lease_members')).toBe(1);
    expect(await metric(worker, 'stockflow_rebalances_total')).toBeGreaterThanOrEqual(1);
  });

  it('counts applied messages, latency and lock waits, duplicates, dead letters and the outbox', async () => {
    const N = 40;
    const keys = Array.from({ length: 8 }, (_, i) => ({ productId: `sku-m${i}`, warehouseId: 'wh-1' }));
    await Promise.all(Array.from({ length: N }, (_, i) => pub.send('ReceiveStock', { ...keys[i % keys.length]!, quantity: 1 }, { messageId: `m-${i}` })));
    await eventually(async () => expect(await metric(worker, 'stockflow_messages_total', { type: 'ReceiveStock', outcome: 'applied' })).toBe(N), 30_000);
    expect(await metric(worker, 'stockflow_processing_seconds_count', { type: 'ReceiveStock' })).toBe(N);
    expect(await metric(worker, 'stockflow_lock_wait_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(await metric(worker, 'stockflow_batch_messages_sum')).toBeGreaterThanOrEqual(N);

    // The same ten ids again: absorbed (Redis fast path: their transactions committed).
    await Promise.all(Array.from({ length: 10 }, (_, i) => pub.send('ReceiveStock', { ...keys[i % keys.length]!, quantity: 1 }, { messageId: `m-${i}` })));
    await eventually(async () => expect(await metric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock' })).toBe(10), 30_000);
    expect(await metric(worker, 'stockflow_messages_total', { type: 'ReceiveStock', outcome: 'duplicate' })).toBe(10);
    expect(await metric(worker, 'stockflow_messages_total', { type: 'ReceiveStock', outcome: 'applied' })).toBe(N);

    // A body that is not JSON: dead-lettered with its reason.
    await pub.sendRaw(`${env.namespace}.commands.inventory`, '00', Buffer.from('{not json'), { messageId: 'junk-1', type: 'ReceiveStock', headers: { 'x-partition-key': 'junk' } });
    await eventually(async () => expect(await metric(worker, 'stockflow_dead_lettered_total', { reason: 'malformed_json' })).toBe(1), 30_000);
    expect(await metric(worker, 'stockflow_messages_total', { outcome: 'dead_lettered' })).toBe(1);

    // Every StockReceived went out through the outbox; nothing is left behind.
    await eventually(async () => {
      expect(await metric(worker, 'stockflow_outbox_published_total')).toBeGreaterThanOrEqual(N);
      expect(await metric(worker, 'stockflow_outbox_backlog')).toBe(0);
      expect(await metric(worker, 'stockflow_outbox_lag_seconds')).toBe(0);
    }, 30_000);
  });

  it('splits delivery → commit into stages: a slow transaction, and the batches queued behind it', async () => {
    const stage = (name: string, series: string, labels: Record<string, string> = {}) => metric(worker, `stockflow_stage_seconds_${series}`, { stage: name, ...labels });
    const slowOnes = async (name: string) => (await stage(name, 'count')) - (await stage(name, 'bucket', { le: '0.25' }));
    const before = { applied: await metric(worker, 'stockflow_messages_total', { type: 'ReceiveStock', outcome: 'applied' }), tx: await slowOnes('transaction'), queued: await slowOnes('partition_queue') };
    const key = { productId: 'sku-stage', warehouseId: 'wh-1' };
    // Past its partition's one-message-at-a-time start, so what follows is buffered behind.
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'stage-warm' });
    await eventually(async () => expect(await metric(worker, 'stockflow_messages_total', { type: 'ReceiveStock', outcome: 'applied' })).toBe(before.applied + 1), 30_000);
    let open: () => void = () => undefined;
    slowGate = new Promise<void>((r) => (open = r));
    const entered = new Promise<void>((r) => (slowEntered = r));
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'slow-tx' });
    await entered;
    // Same key, so the same partition: they arrive while its batch sits in the slow transaction,
    // which commits a second after they were published (their wait: well over 0.25 s).
    await Promise.all([1, 2, 3].map((i) => pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: `behind-slow-${i}` })));
    await new Promise((r) => setTimeout(r, 1000));
    open();
    await eventually(async () => expect(await metric(worker, 'stockflow_messages_total', { type: 'ReceiveStock', outcome: 'applied' })).toBe(before.applied + 5), 30_000);
    // The slow one's transaction took SLOW_MS; the three behind it spent their wait queued for the partition.
    expect((await slowOnes('transaction')) - before.tx).toBe(1);
    expect((await slowOnes('partition_queue')) - before.queued).toBe(3);
    for (const name of ['partition_queue', 'pre_transaction', 'transaction_queue', 'transaction']) {
      expect(await stage(name, 'count')).toBe(await metric(worker, 'stockflow_processing_seconds_count'));
    }
  });

  it('shows the outbox backlog and its age while the relay is stopped', async () => {
    await worker.outboxRelay!.stop();
    await pub.send('ReceiveStock', { productId: 'sku-backlog', warehouseId: 'wh-1', quantity: 1 }, { messageId: 'backlog-1' });
    await eventually(async () => expect(await metric(worker, 'stockflow_outbox_backlog')).toBeGreaterThanOrEqual(1), 30_000);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await metric(worker, 'stockflow_outbox_lag_seconds')).toBeGreaterThanOrEqual(1);
    worker.outboxRelay!.start();
    await eventually(async () => expect(await metric(worker, 'stockflow_outbox_backlog')).toBe(0), 30_000);
  });

  it('counts redeliveries (absorbed as duplicates) and reservation expiries', async () => {
    await pub.send('ReceiveStock', { productId: 'sku-r', warehouseId: 'wh-1', quantity: 5 }, { messageId: 'redeliver-me' });
    await eventually(async () => {
      expect(await metric(worker, 'stockflow_redeliveries_total')).toBeGreaterThanOrEqual(1);
      // 10 from the test before, plus the redelivery (Redis knew it: the commit went through).
      expect(await metric(worker, 'stockflow_duplicates_total', { type: 'ReceiveStock' })).toBeGreaterThanOrEqual(11);
    }, 30_000);

    await pub.send('ReserveStock', { reservationId: 'res-m', lines: [{ productId: 'sku-r', warehouseId: 'wh-1', quantity: 2 }], ttlMs: 200 }, { messageId: 'reserve-m' });
    await eventually(async () => expect(await metric(worker, 'stockflow_reservation_expiries_total')).toBeGreaterThanOrEqual(1), 30_000);
    await eventually(async () => expect(await metric(worker, 'stockflow_messages_total', { type: 'ExpireReservation', outcome: 'applied' })).toBeGreaterThanOrEqual(1), 30_000);
  });

  it('/readyz turns 503 when Redis is cut off under leases (the worker loses its partitions), and back to 200 when it returns', async () => {
    proxy = await TcpProxy.start(Number(new URL(env.redisUrl).port || 6379));
    const cut = await startInventory(env, { HTTP_PORT: 0, LEASE_TTL_MS: 1000, HEARTBEAT_MS: 100, REDIS_URL: proxy.url(env.redisUrl) });
    await eventually(async () => expect((await get(cut, '/readyz')).status).toBe(200), 10_000);
    proxy.cut();
    await eventually(async () => {
      const r = await get(cut, '/readyz');
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toMatchObject({ status: 'not ready', amqp: true, postgres: true, redis: false, partitions: false });
    }, 10_000);
    expect((await get(cut, '/livez')).status).toBe(200);
    expect(await metric(cut, 'stockflow_lease_heartbeat_failures_total')).toBeGreaterThanOrEqual(1);
    proxy.restore();
    await eventually(async () => expect((await get(cut, '/readyz')).status).toBe(200), 15_000);
    await cut.stop();
  });

  it('/readyz stays 200, degraded, when Redis is cut off from a worker that keeps its partitions (OWNERSHIP=all)', async () => {
    const cut = await startInventory(env, { HTTP_PORT: 0, OWNERSHIP: 'all', REDIS_URL: proxy!.url(env.redisUrl) });
    await eventually(async () => expect(JSON.parse((await get(cut, '/readyz')).body)).toMatchObject({ status: 'ready' }), 10_000);
    proxy!.cut();
    await eventually(async () => {
      const r = await get(cut, '/readyz');
      expect([r.status, JSON.parse(r.body)]).toEqual([200, { status: 'degraded', amqp: true, postgres: true, redis: false, partitions: true }]);
    }, 10_000);
    proxy!.restore();
    await cut.stop();
  });

  it('/readyz turns 503 when the worker owns no partitions (assigner stopped)', async () => {
    await worker.partitionAssigner!.stop();
    const r = await get(worker, '/readyz');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toMatchObject({ redis: true, partitions: false });
    await worker.stop();
  });
});
