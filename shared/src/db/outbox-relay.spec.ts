import pino from 'pino';
import type { ConfirmPublisher } from '@stockflow/client/internal';
import { partitionOf } from '@stockflow/client/internal';
import { RetryPolicy } from '../retry/policy';
import { FakeOutboxDb } from '../testing/fake-outbox-db';
import { OutboxRelay, type OutboxRelayOptions } from './outbox-relay';
import { shardLeaseName } from './relay-lease';

const P = 4;

/** A broker that confirms every publish after `ms` and records the message ids in send order. */
function broker(ms = 1) {
  const sent: string[] = [];
  const publisher = {
    publish: (_x: string, _r: string, _b: Buffer, o: { messageId: string }) => {
      sent.push(o.messageId);
      return new Promise<void>((r) => setTimeout(r, ms));
    },
  } as unknown as ConfirmPublisher;
  return { sent, publisher };
}

function relay(db: FakeOutboxDb, publisher: ConfirmPublisher, over: Partial<OutboxRelayOptions> = {}): OutboxRelay {
  return new OutboxRelay({
    url: 'postgres://fake',
    schema: 'spec',
    applicationName: 'spec',
    partitions: P,
    publisher,
    log: pino({ level: 'silent' }),
    pollMs: 100,
    batch: 50,
    deleteDelayMs: 0,
    retryMaxMs: 50,
    policy: new RetryPolicy(1, 5),
    leaseTtlMs: 400,
    renewMs: 100,
    instanceId: 'spec',
    session: db.session,
    ...over,
  });
}

async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 5))) if (Date.now() > end) throw new Error('condition not met in time');
}

/** Keys whose partition (and so shard) is `shard`. */
function keysOf(shard: number, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (partitionOf(`k-${i}`, P) === shard) out.push(`k-${i}`);
  return out;
}

describe('the outbox relay, on a fake database and broker', () => {
  const running: OutboxRelay[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.stop()));
  });
  const started = (r: OutboxRelay) => (running.push(r), r.start(), r);

  it('publishes hand-offs in commit order and deletes them once confirmed, reading nothing back', async () => {
    const db = new FakeOutboxDb();
    const { sent, publisher } = broker();
    const r = started(relay(db, publisher));
    await until(() => r.isLeader);
    const records = db.insert(Array.from({ length: 30 }, (_, i) => ({ messageId: `m-${i}`, key: `k-${i % 5}` })));
    expect(r.handoff(records)).toBe(true);
    await until(() => db.rows.length === 0);
    expect(sent).toEqual(records.map((x) => x.messageId));
    expect(db.log.filter((l) => l.startsWith('SELECT id,'))).toHaveLength(1); // only the read on gaining its shards
  });

  it("publishes rows nobody handed off (another instance's) from the table", async () => {
    const db = new FakeOutboxDb();
    const { sent, publisher } = broker();
    const r = started(relay(db, publisher));
    await until(() => r.isLeader);
    db.insert([{ messageId: 'elsewhere-1', key: 'a' }, { messageId: 'elsewhere-2', key: 'b' }]);
    db.notify('another-instance');
    await until(() => db.rows.length === 0);
    expect(sent).toEqual(['elsewhere-1', 'elsewhere-2']);
  });

  it('holds only the shards it is given; keeps the hand-offs of those and says it did not take the rest', async () => {
    const db = new FakeOutboxDb();
    const a = broker();
    const b = broker();
    const ra = started(relay(db, a.publisher, { instanceId: 'a', shards: [0, 1] }));
    const rb = started(relay(db, b.publisher, { instanceId: 'b', shards: [2, 3] }));
    await until(() => ra.shards.length === 2 && rb.shards.length === 2);
    expect(ra.shards).toEqual([0, 1]);
    const mine = keysOf(0, 2).map((key, i) => ({ messageId: `a-${i}`, key }));
    const theirs = keysOf(3, 2).map((key, i) => ({ messageId: `b-${i}`, key }));
    expect(ra.relaysAll(db.insert([]))).toBe(true);
    const records = db.insert([mine[0]!, theirs[0]!, mine[1]!, theirs[1]!]);
    expect(ra.relaysAll(records)).toBe(false);
    expect(ra.handoff(records)).toBe(false);
    db.notify('a');
    await until(() => db.rows.length === 0);
    expect(a.sent).toEqual(['a-0', 'a-1']);
    expect(b.sent).toEqual(['b-0', 'b-1']);
  });

  it('lets go of a shard it no longer wants only after deleting what it published of it, and the new holder reads the rest', async () => {
    const db = new FakeOutboxDb();
    const a = broker();
    const b = broker();
    const ra = started(relay(db, a.publisher, { instanceId: 'a', deleteDelayMs: 60_000 }));
    await until(() => ra.shards.length === P);
    const records = db.insert(keysOf(2, 3).map((key, i) => ({ messageId: `p-${i}`, key })));
    ra.handoff(records);
    await until(() => a.sent.length === 3);
    expect(db.rows).toHaveLength(3); // confirmed, waiting for their DELETE
    ra.setShards([0, 1]);
    await until(() => ra.shards.length === 2);
    const released = db.log.lastIndexOf('UPDATE "spec".relay_lease SET');
    expect(db.log.lastIndexOf('DELETE FROM "spec".outbox', released)).toBeGreaterThanOrEqual(0);
    expect(db.rows).toHaveLength(0);
    const rb = started(relay(db, b.publisher, { instanceId: 'b', shards: [2, 3] }));
    await until(() => rb.shards.length === 2);
    expect(db.holders().get(shardLeaseName(2))).toBe(rb.leaseHolder);
    expect(b.sent).toEqual([]); // nothing of shard 2 published twice
  });

  it('stops publishing the moment its leases run out by its own clock, with the database silent', async () => {
    const db = new FakeOutboxDb();
    const { sent, publisher } = broker();
    const r = started(relay(db, publisher));
    await until(() => r.isLeader);
    db.stalled = true;
    await new Promise((res) => setTimeout(res, 500)); // past leaseTtlMs with no renewal answered
    expect(r.isLeader).toBe(false);
    expect(r.handoff(db.insert([{ messageId: 'late', key: 'k' }]))).toBe(false);
    await new Promise((res) => setTimeout(res, 50));
    expect(sent).toEqual([]);
    db.stalled = false;
  });
});
