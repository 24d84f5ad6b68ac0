import { partitionOf } from '@stockflow/shared';
import { eventually, TestEnv } from '../support';
import { ChildCluster, ownership, relayShards } from './cluster';
import { CommandStream, warehouseReady } from './traffic';

const P = 4;

/**
 * Event publishing spread over the instances: the outbox has a shard per partition, and each
 * instance's relay holds the shards of the partitions it owns, so two instances each publish
 * the rows of their own partitions' keys; when one stops, its partitions and their shards move
 * to the other, which then publishes everything.
 */
describe('outbox relaying spread over the instances', () => {
  let env: TestEnv;
  let cluster: ChildCluster;
  afterAll(async () => {
    await cluster?.stopAll();
    await env?.cleanup();
  });

  const shardsByInstance = () => relayShards(env, 'inventory');
  const published = async (id: string) => {
    const w = cluster.get(id);
    let n = 0;
    for (const via of ['handoff', 'table', 'parked']) n += await w.metric('stockflow_outbox_published_total', { via });
    return n;
  };

  it('each instance relays the rows of the partitions it owns; a handover moves them', async () => {
    env = await TestEnv.create('relay-shards', { partitions: P });
    cluster = new ChildCluster(env, 'inventory-worker');
    await Promise.all(['a', 'b'].map((id) => cluster.start(id).ready()));
    const tap = await env.tap();
    const pub = await env.publisher();
    await warehouseReady(env, pub);

    // Both own partitions, and each relays exactly the shards of the partitions it owns.
    const owned = await eventually(async () => {
      const members = new Map([...(await ownership(env, 'inventory'))].map(([id, owned]) => [id, [...owned].sort((x, y) => x - y)]));
      const shards = await shardsByInstance();
      expect([...members.keys()].sort()).toEqual(['a', 'b']);
      expect(members.get('a')!.length).toBeGreaterThan(0);
      expect(members.get('b')!.length).toBeGreaterThan(0);
      expect(shards.get('a')).toEqual(members.get('a'));
      expect(shards.get('b')).toEqual(members.get('b'));
      return members;
    }, 30_000);

    // Each publishes exactly the events whose key falls in its own partitions.
    const stream = new CommandStream(pub, 'spread', P);
    const before = { a: await published('a'), b: await published('b') };
    await stream.burst(80);
    await eventually(() => expect(tap.distinct('StockReceived').filter((e) => String(e.causationId).startsWith('spread-'))).toHaveLength(80), 30_000);
    await env.waitIdle(30_000, ['inventory']);
    const ours = tap.events.filter((e) => String(e.causationId).startsWith('spread-'));
    const expected = { a: 0, b: 0 };
    for (const e of new Map(ours.map((o) => [o.messageId, o])).values()) {
      const p = partitionOf(e.partitionKey!, P);
      if (owned.get('a')!.includes(p)) expected.a++;
      else expected.b++;
    }
    expect(expected.a).toBeGreaterThan(0);
    expect(expected.b).toBeGreaterThan(0);
    await eventually(async () => expect({ a: (await published('a')) - before.a, b: (await published('b')) - before.b }).toEqual(expected), 10_000);

    // b stops: a owns every partition and relays every shard, and events keep coming.
    await cluster.get('b').stop();
    await eventually(async () => expect((await shardsByInstance()).get('a')).toEqual(Array.from({ length: P }, (_, i) => i)), 30_000);
    const afterStop = await published('a');
    await stream.burst(40);
    await eventually(() => expect(tap.distinct('StockReceived').filter((e) => String(e.causationId).startsWith('spread-'))).toHaveLength(120), 30_000);
    await env.waitIdle(30_000, ['inventory']);
    const later = new Set(tap.events.filter((e) => /^spread-(8\d|9\d|1[01]\d)$/.test(String(e.causationId))).map((e) => e.messageId));
    await eventually(async () => expect((await published('a')) - afterStop).toBe(later.size), 10_000);
  });
});
