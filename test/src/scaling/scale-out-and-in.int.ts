import { eventually, TestEnv } from '../support';
import { ChildCluster, expectEvenSpread, FAST_LEASES, ownership } from './cluster';
import { CommandStream, expectExactlyOnce, warehouseReady } from './traffic';

const P = 16;
/** Lease expiry + a heartbeat to notice + a heartbeat of slack, plus a loaded machine's jitter. */
const TAKEOVER_BOUND_MS = FAST_LEASES.LEASE_TTL_MS + 2 * FAST_LEASES.HEARTBEAT_MS + 6000;

/**
 * Three inventory-worker processes share 16 partitions; one is SIGKILLed, a fourth joins.
 * Commands flow the whole time. Every partition must always come back to an owner within a
 * bounded time, and every command must be applied exactly once.
 */
describe('scaling out and in with leases (child processes)', () => {
  let env: TestEnv;
  let cluster: ChildCluster;
  afterAll(async () => {
    await cluster?.stopAll();
    await env?.cleanup();
  });

  it('3 instances share 16 partitions (±1); a SIGKILLed one is replaced in bounded time; a 4th rebalances; nothing lost or doubled', async () => {
    env = await TestEnv.create('scale', { partitions: P });
    cluster = new ChildCluster(env, 'inventory-worker', { BATCH_SIZE: 10, PREFETCH: 50 });
    await Promise.all(['w1', 'w2', 'w3'].map((id) => cluster.start(id).ready()));
    await eventually(async () => expectEvenSpread(await ownership(env, 'inventory'), P, ['w1', 'w2', 'w3']), 20_000);

    const pub = await env.publisher();
    await warehouseReady(env, pub);
    const stream = new CommandStream(pub, 'scale', P, { wave: 10, pauseMs: 10 }).start();
    await eventually(() => expect(stream.published).toBeGreaterThan(300), 30_000);

    // SIGKILL: no drain, no leave; its deliveries go back to the queues when the socket dies,
    // its partitions move when its lease expires.
    const killedAt = Date.now();
    cluster.signal('w2', 'SIGKILL');
    await eventually(async () => expectEvenSpread(await ownership(env, 'inventory'), P, ['w1', 'w3']), TAKEOVER_BOUND_MS, 50);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeGreaterThanOrEqual(FAST_LEASES.LEASE_TTL_MS - FAST_LEASES.HEARTBEAT_MS);

    await eventually(() => expect(stream.published).toBeGreaterThan(600), 30_000);
    await cluster.start('w4').ready();
    await eventually(async () => expectEvenSpread(await ownership(env, 'inventory'), P, ['w1', 'w3', 'w4']), 20_000);
    await eventually(() => expect(stream.published).toBeGreaterThan(900), 30_000);

    const published = await stream.stop();
    await expectExactlyOnce(env, 'scale', published);
    process.stdout.write(`[scale] ${published} commands; partitions owned again ${takeoverMs} ms after SIGKILL (bound ${TAKEOVER_BOUND_MS} ms)\n`);
  });
});
