import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { partitionOf, stockKey } from '@stockflow/shared';
import { eventually, TEST_LOG_DIR, TestEnv } from '../support';
import { ManagementApi, managementUrlOf } from '@stockflow/ops';
import { ChildCluster } from '../scaling/cluster';
import { CommandStream, expectExactlyOnce, warehouseReady } from '../scaling/traffic';

const P = 4;
const GRACE_MS = 10_000;

async function inboxCount(env: TestEnv, prefix: string): Promise<number> {
  const [row] = await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.inbox WHERE message_id LIKE $1`, [`${prefix}-%`]);
  return Number(row!.n);
}

function logOf(env: TestEnv, instance: string): string[] {
  return readFileSync(join(TEST_LOG_DIR, `${env.namespace}.inventory-worker.log`), 'utf8').split('\n').filter((l) => l.includes(`"instance":"${instance}"`));
}

/**
 * SIGTERM/SIGINT (shared/src/worker/run.ts): stop consuming, finish the batch in flight,
 * flush the outbox, close everything, exit 0 within SHUTDOWN_GRACE_MS; a second signal, or the
 * grace period running out, forces exit 1.
 */
describe('graceful shutdown of a worker process', () => {
  let env: TestEnv;
  let cluster: ChildCluster;
  let blocker: Client | undefined;
  beforeAll(async () => {
    env = await TestEnv.create('shutdown', { partitions: P });
    cluster = new ChildCluster(env, 'inventory-worker', { BATCH_SIZE: 10, PREFETCH: 100, SHUTDOWN_GRACE_MS: GRACE_MS });
  });
  afterAll(async () => {
    await blocker?.end().catch(() => undefined);
    await cluster?.stopAll();
    await env?.cleanup();
  });

  it('SIGTERM during a flood: exit 0 in time, no unacked message left, everything applied once after restart', async () => {
    await cluster.start('term-1').ready();
    const pub = await env.publisher();
    await warehouseReady(env, pub);
    const stream = new CommandStream(pub, 'term', P, { wave: 20, pauseMs: 5 }).start();
    await eventually(async () => expect(await inboxCount(env, 'term')).toBeGreaterThan(300), 60_000, 50);

    const signalledAt = Date.now();
    cluster.signal('term-1', 'SIGTERM');
    const exit = await cluster.get('term-1').exited;
    const shutdownMs = Date.now() - signalledAt;
    const published = await stream.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(shutdownMs).toBeLessThan(GRACE_MS);
    expect(logOf(env, 'term-1').some((l) => l.includes('"msg":"stopped"'))).toBe(true);

    // Nothing in limbo: no unacked delivery, no consumer, the outbox flushed, and every command
    // either applied or still waiting in its queue.
    const mgmt = new ManagementApi(managementUrlOf(env.amqpUrl), env.amqpUrl);
    await eventually(async () => {
      const queues = (await mgmt.queues(`${env.namespace}.inventory.p`)).filter((q) => !q.name.endsWith('.dead'));
      expect(queues).toHaveLength(P);
      expect(queues.map((q) => [q.unacked, q.consumers])).toEqual(queues.map(() => [0, 0]));
    }, 20_000, 500);
    const [outbox] = await env.query<{ n: string }>('SELECT count(*) AS n FROM inventory.outbox');
    expect(Number(outbox!.n)).toBe(0);
    const waiting = Object.values(await env.queueDepths(['inventory'])).reduce((a, b) => a + b, 0);
    const applied = await inboxCount(env, 'term');
    expect(applied + waiting).toBe(published);
    expect(waiting).toBeGreaterThan(0);

    await cluster.start('term-2').ready();
    await expectExactlyOnce(env, 'term', published);
    await cluster.get('term-2').stop();
    process.stdout.write(`[shutdown] ${published} published, ${applied} applied before SIGTERM finished in ${shutdownMs} ms, ${waiting} left for the restart\n`);
  });

  /** A worker whose batch is stuck on a row lock (the drain cannot finish). */
  async function stuckWorker(id: string, extra: Record<string, string | number> = {}) {
    await cluster.start(id, extra).ready();
    const pub = await env.publisher();
    await warehouseReady(env, pub);
    const key = { productId: 'sku-stuck', warehouseId: 'wh-1' };
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: `${id}-seed` });
    await eventually(async () => expect(await inboxCount(env, `${id}`)).toBe(1));
    blocker = new Client({ connectionString: env.databaseUrl });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM inventory.stock WHERE product_id = $1 FOR UPDATE`, [key.productId]);
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: `${id}-blocked` });
    await eventually(async () => {
      const rows = await env.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [`stockflow:inventory-worker:${id}`]);
      expect(rows).toHaveLength(1);
    }, 20_000);
    return {
      release: async () => {
        await blocker!.query('COMMIT');
        await blocker!.end();
        blocker = undefined;
      },
      partition: partitionOf(stockKey(key.productId, key.warehouseId), P),
    };
  }

  it('a second signal forces exit 1 while the drain is stuck', async () => {
    const stuck = await stuckWorker('twice');
    cluster.signal('twice', 'SIGTERM');
    await new Promise((r) => setTimeout(r, 1000));
    expect(logOf(env, 'twice').some((l) => l.includes('shutdown requested'))).toBe(true);
    const child = cluster.get('twice');
    const stillRunning = await Promise.race([child.exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 100))]);
    expect(stillRunning).toBe(true);
    const secondAt = Date.now();
    cluster.signal('twice', 'SIGINT');
    expect(await child.exited).toEqual({ code: 1, signal: null });
    expect(Date.now() - secondAt).toBeLessThan(2000);
    await stuck.release();
    // The killed transaction never committed: a new worker applies the blocked command once.
    await cluster.start('twice-after').ready();
    await eventually(async () => expect(await inboxCount(env, 'twice')).toBe(2), 30_000);
    await cluster.get('twice-after').stop();
  });

  it('the grace period running out forces exit 1', async () => {
    const stuck = await stuckWorker('grace', { SHUTDOWN_GRACE_MS: 1500 });
    const at = Date.now();
    cluster.signal('grace', 'SIGTERM');
    expect(await cluster.get('grace').exited).toEqual({ code: 1, signal: null });
    const took = Date.now() - at;
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(took).toBeLessThan(5000);
    expect(logOf(env, 'grace').some((l) => l.includes('grace period over'))).toBe(true);
    await stuck.release();
  });
});
