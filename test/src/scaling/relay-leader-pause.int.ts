import { eventually, TestEnv } from '../support';
import { ChildCluster, relayShards } from './cluster';
import { CommandStream, warehouseReady } from './traffic';

const P = 4;
/** Longer than every lease and heartbeat of the cluster below, many times over. */
const PAUSE_MS = 20_000;

/**
 * An instance whose relay publishes part of the outbox, SIGSTOPped: its session stays alive in
 * Postgres while it sleeps, but its shard leases do not. With its partitions, the other
 * instance's relay takes its shards within seconds and events keep flowing; the paused one,
 * resumed, finds its leases gone by its own clock before it publishes anything, so nothing goes
 * out twice after it wakes.
 */
describe('a paused outbox relay', () => {
  let env: TestEnv;
  let cluster: ChildCluster;
  afterAll(async () => {
    await cluster?.stopAll();
    await env?.cleanup();
  });

  const holders = () => relayShards(env, 'inventory');

  it('loses its shards within seconds; events keep flowing; resumed, it publishes nothing twice', async () => {
    env = await TestEnv.create('relay-pause', { partitions: P });
    cluster = new ChildCluster(env, 'inventory-worker', { AMQP_HEARTBEAT_S: 1 });
    await Promise.all(['a', 'b'].map((id) => cluster.start(id).ready()));
    const tap = await env.tap();
    const pub = await env.publisher();
    await warehouseReady(env, pub);
    // The partitions are spread over both instances, and so is the relaying.
    const spread = await eventually(async () => {
      const h = await holders();
      expect([...h.keys()].sort()).toEqual(['a', 'b']);
      expect([...h.values()].flat().sort((x, y) => x - y)).toEqual(Array.from({ length: P }, (_, i) => i));
      return h;
    }, 20_000);
    const leader = 'a';
    const other = 'b';
    const shards = spread.get(leader)!;

    const stream = new CommandStream(pub, 'pause', P, { wave: 4, pauseMs: 50 }).start();
    await eventually(() => expect(tap.ofType('StockReceived').length).toBeGreaterThan(20));
    cluster.signal(leader, 'SIGSTOP');
    const pausedAt = Date.now();
    const sentBefore = stream.published;

    // The other instance relays every shard, long before the paused one wakes.
    await eventually(async () => expect((await holders()).get(other)).toEqual(expect.arrayContaining(shards)), 15_000);
    await eventually(() => expect(tap.ofType('StockReceived').some((e) => Number(String(e.causationId).split('-')[1]) >= sentBefore + 20)).toBe(true), 15_000);
    await new Promise((r) => setTimeout(r, pausedAt + PAUSE_MS - Date.now()));

    cluster.signal(leader, 'SIGCONT');
    const resumedAt = Date.now();
    await new Promise((r) => setTimeout(r, 5_000));
    const total = await stream.stop();
    await env.waitIdle(60_000, ['inventory']);
    await eventually(() => expect(tap.distinct('StockReceived')).toHaveLength(total), 30_000);

    // Nothing delivered before the resume came again after it.
    const seenBefore = new Set(tap.events.filter((e) => e.receivedAt < resumedAt).map((e) => e.messageId));
    const again = tap.events.filter((e) => e.receivedAt >= resumedAt && seenBefore.has(e.messageId));
    expect(again.map((e) => e.messageId)).toEqual([]);
    // Every command applied once.
    expect(Number((await env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.inbox WHERE message_id LIKE 'pause-%'`))[0]!.n)).toBe(total);
  });
});
