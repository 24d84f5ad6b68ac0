import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { partitionOf, stockKey } from '@stockflow/shared';
import { eventually, TEST_LOG_DIR, TestEnv } from '../support';
import { ManagementApi, managementUrlOf } from '@stockflow/ops';
import { ChildCluster, expectEvenSpread, ownership } from './cluster';
import { warehouseReady } from './traffic';

const P = 4;
const N = 30;

async function sessions(env: TestEnv, instance: string): Promise<{ pid: number; state: string; wait: string | null }[]> {
  return env.query(
    `SELECT pid, state, wait_event_type AS wait FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`,
    [`stockflow:inventory-worker:${instance}`],
  );
}

/**
 * The dangerous case of lease-based ownership: an owner paused (SIGSTOP) in the middle of a
 * transaction, with deliveries in hand, whose lease expires and whose partition moves; then it
 * wakes up. What keeps it from applying a stale effect is not Redis:
 *   - single active consumer: the new owner gets nothing until the broker has dropped the paused
 *     owner's connection (missed AMQP heartbeats) and requeued its unacked deliveries;
 *   - the inbox claim and the row locks of the paused transaction: the new owner's claim of the
 *     same ids waits on them;
 *   - idle_in_transaction_session_timeout: Postgres ends the paused session, rolling back its
 *     claims and releasing its locks, so the new owner applies each command once;
 *   - on waking, the old owner's commit fails and its deliveries are stale (their channel is
 *     gone), so it abandons them; a retry would find the ids claimed.
 */
describe('a SIGSTOPped owner resumed after its lease expired', () => {
  let env: TestEnv;
  let cluster: ChildCluster;
  let blocker: Client | undefined;
  afterAll(async () => {
    await blocker?.end().catch(() => undefined);
    await cluster?.stopAll();
    await env?.cleanup();
  });

  it('cannot apply a stale effect: every command applied once, by the new owner', async () => {
    env = await TestEnv.create('stale', { partitions: P });
    cluster = new ChildCluster(env, 'inventory-worker', { BATCH_SIZE: 5, PREFETCH: 100, AMQP_HEARTBEAT_S: 1 });
    await Promise.all(['old', 'new'].map((id) => cluster.start(id).ready()));
    await eventually(async () => expectEvenSpread(await ownership(env, 'inventory'), P, ['old', 'new']), 20_000);

    // A product on one of the old owner's partitions.
    const oldOwns = (await ownership(env, 'inventory')).get('old')!;
    let i = 0;
    while (!oldOwns.includes(partitionOf(stockKey(`sku-${i}`, 'wh-1'), P))) i++;
    const key = { productId: `sku-${i}`, warehouseId: 'wh-1' };
    const queue = `${env.namespace}.inventory.p${String(partitionOf(stockKey(key.productId, key.warehouseId), P)).padStart(2, '0')}`;
    const pub = await env.publisher();
    await warehouseReady(env, pub);
    await pub.send('ReceiveStock', { ...key, quantity: 100 }, { messageId: 'seed' });
    await eventually(async () => expect(await env.query(`SELECT 1 FROM inventory.stock WHERE product_id = $1`, [key.productId])).toHaveLength(1));

    // Hold the stock row, so the old owner's next transaction claims its inbox ids and then
    // waits for the lock: it is mid-transaction, with more deliveries buffered behind it.
    blocker = new Client({ connectionString: env.databaseUrl });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM inventory.stock WHERE product_id = $1 FOR UPDATE`, [key.productId]);
    await Promise.all(Array.from({ length: N }, (_, n) => pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: `stale-${n}` })));
    await eventually(async () => expect((await sessions(env, 'old')).some((s) => s.wait === 'Lock')).toBe(true), 20_000);
    const mgmt = new ManagementApi(managementUrlOf(env.amqpUrl), env.amqpUrl);
    await eventually(async () => expect((await mgmt.queues(queue)).find((q) => q.name === queue)?.unacked).toBe(N), 20_000, 500);

    cluster.signal('old', 'SIGSTOP');
    // The lock is granted to the paused session on the server side: it now holds the claims
    // and the row lock, "idle in transaction" because its client cannot send COMMIT.
    await blocker.query('COMMIT');
    await eventually(async () => expect((await sessions(env, 'old')).map((s) => s.state)).toContain('idle in transaction'), 10_000);

    // Its lease expires, the partition moves; the broker drops its connection (1 s heartbeats)
    // and the new owner receives the deliveries, but must wait on the paused transaction.
    await eventually(async () => expectEvenSpread(await ownership(env, 'inventory'), P, ['new']), 15_000);
    await eventually(async () => expect((await sessions(env, 'new')).some((s) => s.wait === 'Lock')).toBe(true), 20_000);
    const [midway] = await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.inbox WHERE message_id LIKE 'stale-%'`);
    expect(Number(midway!.n)).toBe(0);

    // Postgres ends the paused session (idle_in_transaction_session_timeout); the new owner
    // claims and applies everything once.
    await eventually(async () => {
      const [row] = await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.inbox WHERE message_id LIKE 'stale-%'`);
      expect(Number(row!.n)).toBe(N);
    }, 45_000, 250);
    expect((await sessions(env, 'old')).filter((s) => s.state.startsWith('idle in transaction'))).toEqual([]);

    // Wake the old owner: whatever it had in hand must not take effect again.
    cluster.signal('old', 'SIGCONT');
    // It did try: its paused transaction failed on waking (the session was gone).
    const oldLog = () => readFileSync(join(TEST_LOG_DIR, `${env.namespace}.inventory-worker.log`), 'utf8').split('\n').filter((l) => l.includes('"instance":"old"'));
    await eventually(() => expect(oldLog().some((l) => l.includes('batch failed; retrying in place'))).toBe(true), 10_000);
    await eventually(async () => expectEvenSpread(await ownership(env, 'inventory'), P, ['old', 'new']), 20_000);
    await new Promise((r) => setTimeout(r, 2000));
    const [stock] = await env.query<{ on_hand: number }>(`SELECT on_hand FROM inventory.stock WHERE product_id = $1`, [key.productId]);
    expect(stock!.on_hand).toBe(100 + N);
    const [ledger] = await env.query<{ rows: string; ids: string }>(`SELECT count(*) AS rows, count(DISTINCT message_id) AS ids FROM inventory.ledger WHERE message_id LIKE 'stale-%'`);
    expect({ rows: Number(ledger!.rows), ids: Number(ledger!.ids) }).toEqual({ rows: N, ids: N });
    await eventually(async () => expect((await mgmt.queues(queue)).find((q) => q.name === queue)).toMatchObject({ messages: 0, unacked: 0 }), 20_000, 500);
  });
});
