import type { InventoryUnitOfWork } from '@stockflow/inventory-worker';
import { liveMembers, type Worker } from '@stockflow/shared';
import { eventually, startInventory, TestEnv } from '../support';
import { TcpProxy } from './tcp-proxy';
import { CommandStream, expectExactlyOnce, warehouseReady } from './traffic';

const P = 16;
// A lease long enough that a handover faster than it proves the leave, not an expiry.
const LEASES = { OWNERSHIP: 'leases', LEASE_TTL_MS: 4000, HEARTBEAT_MS: 200, BATCH_SIZE: 10 };

function expectBalanced(workers: Worker<InventoryUnitOfWork>[]): void {
  const owned = workers.map((w) => w.ownedPartitions);
  expect(owned.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: P }, (_, i) => i));
  const counts = owned.map((o) => o.length);
  expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
}

/** Polls the member list until `instance` is gone; what its lease had left the last time it was listed (ms). */
async function lastLeaseOf(env: TestEnv, instance: string): Promise<number> {
  let left = 0;
  for (;;) {
    const me = (await liveMembers(env.redis, 'inventory')).find((m) => m.instance === instance);
    if (!me) return left;
    left = me.leaseLeftMs;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Lease-based ownership with in-process workers: even spread, a graceful stop hands its
 * partitions over without waiting for the lease to expire, and a worker cut off from Redis
 * keeps what it has (single active consumer and the inbox keep the overlap safe).
 */
describe('partition ownership by Redis leases (in-process workers)', () => {
  let env: TestEnv;
  let proxy: TcpProxy | undefined;
  afterAll(async () => {
    await proxy?.stop();
    await env?.cleanup();
  });

  it('spreads 16 partitions evenly, hands over at once on a graceful stop, survives a Redis cut', async () => {
    env = await TestEnv.create('leases', { partitions: P });
    proxy = await TcpProxy.start(Number(new URL(env.redisUrl).port || 6379));
    // The first worker declares the topology; traffic flows from then on.
    const a = await startInventory(env, { ...LEASES, INSTANCE_ID: 'lease-a' });
    const pub = await env.publisher();
    await warehouseReady(env, pub);
    const stream = new CommandStream(pub, 'lease', P).start();
    const b = await startInventory(env, { ...LEASES, INSTANCE_ID: 'lease-b' });
    // c reaches Redis through the proxy, so the test can cut it off alone.
    const c = await startInventory(env, { ...LEASES, INSTANCE_ID: 'lease-c', REDIS_URL: proxy.url(env.redisUrl) });
    await eventually(() => expectBalanced([a, b, c]), 15_000);
    expect((await liveMembers(env.redis, 'inventory')).map((m) => m.instance).sort()).toEqual(['lease-a', 'lease-b', 'lease-c']);

    // Redis cut for c, longer than its lease: a and b take its share (standing by under single
    // active consumer), c keeps consuming what it had, and nothing is applied twice.
    const cOwned = c.ownedPartitions;
    proxy.cut();
    await eventually(async () => expect((await liveMembers(env.redis, 'inventory')).map((m) => m.instance).sort()).toEqual(['lease-a', 'lease-b']), 10_000);
    await eventually(() => expect([...a.ownedPartitions, ...b.ownedPartitions].sort((x, y) => x - y)).toEqual(Array.from({ length: P }, (_, i) => i)), 5_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(c.ownedPartitions).toEqual(cOwned);
    expect(c.partitionAssigner!.settled).toBe(false);

    proxy.restore();
    await eventually(() => expectBalanced([a, b, c]), 15_000);

    // Graceful stop: b leaves the lease set at once, seen as its member vanishing with most of
    // its lease left (an expiry would show it to the end, with nothing left); a and c own
    // everything before b's lease, last renewed at most a heartbeat before the stop, could expire.
    const stopAt = Date.now();
    const lastSeen = lastLeaseOf(env, 'lease-b');
    await b.stop();
    await eventually(() => expectBalanced([a, c]), 5_000, 20);
    const handoverMs = Date.now() - stopAt;
    expect(await lastSeen).toBeGreaterThan(LEASES.LEASE_TTL_MS / 2);
    expect(handoverMs).toBeLessThan(LEASES.LEASE_TTL_MS - LEASES.HEARTBEAT_MS);

    const published = await stream.stop();
    expect(published).toBeGreaterThan(100);
    await expectExactlyOnce(env, 'lease', published);
    await Promise.all([a.stop(), c.stop()]);
    expect(await liveMembers(env.redis, 'inventory')).toEqual([]);
  });
});
