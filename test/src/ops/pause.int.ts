import type { InventoryUnitOfWork } from '@stockflow/inventory-worker';
import type { Health, StatusReport } from '@stockflow/ops';
import { partitionOf, partitionQueue, stockKey, type Publisher, type Worker } from '@stockflow/shared';
import { eventually, startInventory, TestEnv, workerGet, workerMetric } from '../support';
import { warehouseReady } from '../scaling/traffic';
import { ops } from './run-ops';

const P = 4;

/** A product whose stock key lands on `partition`. */
function productOn(partition: number, tag: string): string {
  for (let i = 0; ; i++) if (partitionOf(stockKey(`${tag}-${i}`, 'wh-1'), P) === partition) return `${tag}-${i}`;
}

/**
 * An operator pauses consumption for a migration or an incident without stopping processes:
 * a paused partition keeps its messages in its queue (the others go on), no instance consumes it,
 * not one that starts meanwhile either, ops status says so, and a resume takes up where it stopped.
 * Two instances with OWNERSHIP=all: with single active consumer, a pause one instance alone
 * honoured would only hand the queue to the other.
 */
describe('ops pause and resume', () => {
  let env: TestEnv;
  let a: Worker<InventoryUnitOfWork>;
  let b: Worker<InventoryUnitOfWork>;
  let pub: Publisher;
  const paused = 2;
  const held = productOn(paused, 'held');
  const other = productOn((paused + 1) % P, 'free');

  beforeAll(async () => {
    env = await TestEnv.create('pause', { partitions: P });
    a = await startInventory(env, { INSTANCE_ID: 'pause-a', OWNERSHIP: 'all', HTTP_PORT: 0 });
    b = await startInventory(env, { INSTANCE_ID: 'pause-b', OWNERSHIP: 'all', HTTP_PORT: 0 });
    pub = await env.publisher();
    await warehouseReady(env, pub);
  });
  afterAll(async () => env?.cleanup());

  const stock = async (product: string) => (await env.query<{ on_hand: number }>(`SELECT on_hand FROM inventory.stock WHERE product_id = $1`, [product]))[0]?.on_hand ?? 0;
  const queue = (p: number) => partitionQueue(env.namespace, 'inventory', p, P);
  const depth = async (p: number) => {
    const ch = await (await env.connection('pause-test')).createChannel();
    try {
      return await ch.checkQueue(queue(p));
    } finally {
      await ch.close();
    }
  };
  const statusJson = async () => {
    const run = await ops(env, ['status', '--worker', 'inventory', '--json']);
    return { code: run.code, report: JSON.parse(run.out) as StatusReport & { health: Health } };
  };

  it('refuses a pause without a reason, a partition that does not exist, and a second worker', async () => {
    expect(await ops(env, ['pause', 'inventory'])).toMatchObject({ code: 2, err: expect.stringMatching(/^pause needs --reason/) });
    expect(await ops(env, ['pause', 'inventory', '--reason', 'x', '--partition', 'two'])).toMatchObject({ code: 2, err: expect.stringMatching(/^--partition two: a whole number/) });
    expect(await ops(env, ['pause', 'shipping', '--reason', 'x'])).toMatchObject({ code: 2 });
    expect(await ops(env, ['pause', 'inventory', 'orders', '--reason', 'x'])).toMatchObject({ code: 2 });
    expect(await ops(env, ['pause', 'inventory', '--reason', 'x', '--partition', String(P)])).toMatchObject({ code: 1, err: expect.stringContaining(`partition ${P} does not exist: the deployment has ${P}`) });
    expect((await statusJson()).report.workers[0]!.pauses).toEqual([]);
  });

  it('a paused partition keeps its messages while the others are consumed', async () => {
    const run = await ops(env, ['pause', 'inventory', '--partition', String(paused), '--reason', 'reindex stock table']);
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toMatch(new RegExp(`^paused inventory-worker p0${paused}: no instance consumes it \\(after [\\d.]+ s\\)`));
    expect((await depth(paused)).consumerCount).toBe(0);
    expect(a.pausedPartitions).toEqual([paused]);
    expect(b.pausedPartitions).toEqual([paused]);

    await pub.send('ReceiveStock', { productId: held, warehouseId: 'wh-1', quantity: 5 }, { messageId: 'held-1' });
    await pub.send('ReceiveStock', { productId: other, warehouseId: 'wh-1', quantity: 7 }, { messageId: 'free-1' });
    await eventually(async () => expect(await stock(other)).toBe(7), 30_000);
    // The other partition's message went through after the held one was published and confirmed.
    expect(await stock(held)).toBe(0);
    expect((await depth(paused)).messageCount).toBe(1);
    expect(await workerMetric(a, 'stockflow_partitions_paused')).toBe(1);
    // Paused is what the worker was told: still ready.
    expect((await workerGet(a, '/readyz')).status).toBe(200);
  });

  it('ops status shows the pause, who and why, and calls the deployment degraded', async () => {
    // The management API counts consumers every few seconds.
    await eventually(async () => {
      const { code, report } = await statusJson();
      expect(code).toBe(1);
      const inv = report.workers[0]!;
      expect(inv.partitions.map((p) => p.paused)).toEqual([0, 1, 2, 3].map((p) => p === paused));
      expect(inv.pauses).toEqual([{ partition: paused, reason: 'reindex stock table', pausedBy: expect.stringContaining('@'), pausedAt: expect.any(String) }]);
      expect(report.health.reasons).toEqual([expect.stringMatching(new RegExp(`^inventory-worker: 1 of ${P} partitions paused \\(p0${paused}\\) by \\S+@\\S+ since \\S+: reindex stock table \\(npm run ops -- resume inventory-worker\\)$`))]);
    }, 20_000, 500);
    const text = await ops(env, ['status', '--worker', 'inventory']);
    expect(text.out).toContain(`  paused: p0${paused} by `);
    expect(text.out).toMatch(new RegExp(`p0${paused}\\s+-\\s+paused`));
  });

  it('an instance started during the pause does not consume the paused partition', async () => {
    await b.stop();
    b = await startInventory(env, { INSTANCE_ID: 'pause-b2', OWNERSHIP: 'all', HTTP_PORT: 0 });
    expect(b.pausedPartitions).toEqual([paused]);
    expect(b.ownedPartitions).toEqual([0, 1, 2, 3].filter((p) => p !== paused));
    expect((await depth(paused)).consumerCount).toBe(0);
    expect(await stock(held)).toBe(0);
  });

  it('resume takes up where it stopped', async () => {
    const run = await ops(env, ['resume', 'inventory', '--partition', String(paused)]);
    expect(run).toMatchObject({ code: 0, out: expect.stringContaining('resumed 1 pause(s) of inventory-worker') });
    await eventually(async () => expect(await stock(held)).toBe(5), 30_000);
    // Both instances subscribe again (the broker counts the single active one).
    await eventually(async () => expect([a.ownedPartitions, b.ownedPartitions, (await depth(paused)).consumerCount]).toEqual([[0, 1, 2, 3], [0, 1, 2, 3], 1]), 10_000);
    expect([a.pausedPartitions, b.pausedPartitions]).toEqual([[], []]);
    expect((await statusJson()).report.workers[0]!.pauses).toEqual([]);
  });

  it('a whole-worker pause stops every partition; resuming one partition of it is refused with a hint', async () => {
    const run = await ops(env, ['pause', 'inventory', '--reason', 'database failover']);
    expect(run).toMatchObject({ code: 0, out: expect.stringMatching(/^paused every partition of inventory-worker: no instance consumes them/) });
    for (let p = 0; p < P; p++) expect((await depth(p)).consumerCount).toBe(0);
    await pub.send('ReceiveStock', { productId: other, warehouseId: 'wh-1', quantity: 1 }, { messageId: 'free-2' });
    expect((await workerGet(b, '/readyz')).status).toBe(200);
    await eventually(async () => expect((await statusJson()).report.health.reasons).toEqual([expect.stringMatching(/^inventory-worker: consumption paused by \S+ since \S+: database failover/)]), 20_000, 500);

    const one = await ops(env, ['resume', 'inventory', '--partition', '0']);
    expect(one).toMatchObject({ code: 1, err: expect.stringContaining('still paused as a whole: resume it without --partition') });
    expect(await stock(other)).toBe(7);

    expect(await ops(env, ['resume', 'inventory'])).toMatchObject({ code: 0 });
    await eventually(async () => expect(await stock(other)).toBe(8), 30_000);
    await eventually(async () => expect((await statusJson()).code).toBe(0), 20_000, 500);
  });

  it('repartition refuses while a single partition is paused (its number would name other keys)', async () => {
    // The same partition twice is one pause.
    expect(await ops(env, ['pause', 'inventory', '--partition', '1', '--partition', '1', '--reason', 'x', '--wait', '0'])).toMatchObject({ code: 0 });
    await a.stop();
    await b.stop();
    const run = await ops(env, ['repartition', '--to', String(P + 2)]);
    expect(run).toMatchObject({ code: 1, err: expect.stringContaining('inventory-worker has paused partitions (p01)') });
    expect((await ops(env, ['resume', 'inventory'])).code).toBe(0);
  });
});
