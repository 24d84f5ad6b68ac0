import { Client } from 'pg';
import { eventsExchange, keyHash, OutboxRelay, RetryPolicy, type ConfirmPublisher, type OutboxRecord, type OutboxRelayOptions } from '@stockflow/shared';
import { eventually, startInventory, TestEnv, workerMetric } from '../support';
import { registerWarehouses } from './fixtures';

/**
 * The worker hands the outbox rows it just committed to its own relay, which publishes them
 * without reading them back. Reads of the table still happen (periodically, and on anybody
 * else's NOTIFY) and must neither publish a handed-off row twice nor miss a row nobody handed off.
 */
describe('outbox hand-off', () => {
  let env: TestEnv;
  afterEach(async () => env?.cleanup());

  it('publishes every committed event exactly once, by hand-off, and still finds rows nobody handed off', async () => {
    env = await TestEnv.create('outbox-handoff');
    const worker = await startInventory(env, { INSTANCE_ID: 'inv-handoff', HTTP_PORT: 0 });
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    await eventually(() => expect(worker.outboxRelay?.isLeader).toBe(true));
    // Its own relay leads, so the worker's transactions send no NOTIFY: the rows come by hand-off.
    const listener = new Client({ connectionString: env.databaseUrl });
    await listener.connect();
    let notifies = 0;
    listener.on('notification', () => notifies++);
    await listener.query('LISTEN inventory_outbox');

    // Enough traffic over 1–2 s that the relay's periodic table reads overlap hand-offs.
    const N = 600;
    for (let i = 0; i < N; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => pub.send('ReceiveStock', { productId: `sku-${(i + j) % 37}`, warehouseId: 'wh-1', quantity: 1 }, { messageId: `rs-${i + j}` })));
    }
    await tap.waitForCount('StockReceived', N, 60_000);
    await env.waitIdle(30_000, ['inventory']);
    await new Promise((r) => setTimeout(r, 500));
    // One event per receipt (its outcome, with the row's levels in it) and per registration:
    // nothing else is written to the outbox for them.
    const ids = tap.events.map((e) => e.messageId);
    expect(ids.length).toBe(1 + N);
    expect(new Set(ids).size).toBe(ids.length);
    expect(tap.events.filter((e) => e.type === 'StockReceived').every((e) => (e.payload.levels as unknown[]).length === 1)).toBe(true);
    const byHandoff = await workerMetric(worker, 'stockflow_outbox_published_total', { via: 'handoff' });
    const byTable = await workerMetric(worker, 'stockflow_outbox_published_total', { via: 'table' });
    expect(byHandoff + byTable).toBe(1 + N);
    // Most rows must come by hand-off (the point of it); reads may take a share.
    expect(byHandoff).toBeGreaterThan(N / 2);
    await listener.end();
    expect(notifies).toBe(0);

    // A row committed by someone who never hands it over: another instance (foreign NOTIFY), a
    // lost hand-off of our own (our NOTIFY, no hand-off) and a lost hand-off of a transaction
    // written while our relay led (no NOTIFY at all) are all published from the table.
    const insert = (messageId: string, notifyAs: string | undefined) =>
      env.query(
        `WITH o AS (INSERT INTO inventory.outbox (message_id, type, exchange, routing_key, mandatory, properties, payload)
                    VALUES ($1, 'StockReceived', $2, 'StockReceived.x', false, '{}', '{"manual":true}') RETURNING 1)
         SELECT pg_notify('inventory_outbox', $3) FROM o WHERE $3::text IS NOT NULL`,
        [messageId, eventsExchange(env.namespace), notifyAs ?? null],
      );
    await insert('manual-foreign', 'some-other-instance');
    await insert('manual-lost-handoff', 'inv-handoff');
    await insert('manual-silent', undefined);
    await eventually(() => expect(tap.events.map((e) => e.messageId)).toEqual(expect.arrayContaining(['manual-foreign', 'manual-lost-handoff', 'manual-silent'])), 10_000);
    await eventually(async () => expect(await env.query('SELECT id FROM inventory.outbox')).toEqual([]), 10_000);
    expect(await workerMetric(worker, 'stockflow_outbox_published_total', { via: 'table' })).toBe(byTable + 3);
  });

  /** In-process relays on the test's database; unless told otherwise, none finds a row to publish. */
  const relayOf = (instanceId: string, overrides: Partial<OutboxRelayOptions> = {}) =>
    new OutboxRelay({
      url: env.databaseUrl,
      schema: 'inventory',
      applicationName: `t-${instanceId}`,
      partitions: env.topology.partitions,
      publisher: { publish: () => Promise.reject(new Error('nothing to publish')) } as unknown as ConfirmPublisher,
      log: env.log,
      pollMs: 200,
      batch: 100,
      deleteDelayMs: 50,
      retryMaxMs: 1000,
      policy: new RetryPolicy(10, 200),
      leaseTtlMs: 2000,
      renewMs: 500,
      instanceId,
      ...overrides,
    });
  const LEASE = 'relay_lease';

  /**
   * A relay that leads, behind a broker that confirms each round `roundMs` later (20 rows a
   * round, a 100 ms poll interval), counting how its rows came (hand-off or table) and the order
   * they went out in; `commit` writes rows as a worker's transaction would and returns the
   * records it would hand off.
   */
  async function slowRelay(name: string, roundMs: number, overrides: Partial<OutboxRelayOptions> = {}) {
    env = await TestEnv.create(`outbox-relay-${name}`);
    const via = { handoff: 0, table: 0, parked: 0 };
    const order: string[] = [];
    const publisher = {
      publish: (_x: string, _k: string, _c: Buffer, p: { messageId: string }) => {
        order.push(p.messageId);
        return new Promise<void>((r) => setTimeout(r, roundMs));
      },
    } as unknown as ConfirmPublisher;
    const relay = relayOf(name, { publisher, pollMs: 100, batch: 20, deleteDelayMs: 0, onPublished: (n, _age, how) => (via[how] += n), ...overrides });
    relay.start();
    await eventually(() => expect(relay.isLeader).toBe(true));
    // Its first read (on gaining the lead) found nothing; what follows comes by hand-off.
    await new Promise((r) => setTimeout(r, 150));
    const commit = async (prefix: string, n: number): Promise<OutboxRecord[]> => {
      const rows = await env.query<{ id: string; message_id: string }>(
        `INSERT INTO inventory.outbox (message_id, type, exchange, routing_key, mandatory, properties, payload)
         SELECT $1 || lpad(g::text, 3, '0'), 'StockReceived', 'x', 'StockReceived.x', false, '{}', '{}' FROM generate_series(1, $2) g ORDER BY g RETURNING id, message_id`,
        [prefix, n],
      );
      return rows.map((r) => ({ id: r.id, messageId: r.message_id, type: 'StockReceived', exchange: 'x', routingKey: 'StockReceived.x', mandatory: false, properties: {}, payload: '{}', watchExchange: null, watchRoutingKey: null, keyHash: keyHash(`message:${r.message_id}`) }));
    };
    const emptied = () => eventually(async () => expect(await env.query('SELECT id FROM inventory.outbox')).toEqual([]), 5_000);
    return { relay, via, order, commit, emptied };
  }

  it('a relay behind on its hand-offs does not read the table for them; its safety net runs once it has caught up', async () => {
    // 200 rows at 60 ms a round of 20 keep the relay behind for well over its poll interval,
    // when the safety net used to read the queued rows back.
    const { relay, via, commit, emptied } = await slowRelay('behind', 60);
    try {
      expect(relay.handoff(await commit('behind-', 200))).toBe(true);
      await eventually(() => expect(via.handoff + via.table).toBe(200), 10_000);
      expect(via).toEqual({ handoff: 200, table: 0, parked: 0 });
      // Caught up, the safety net still finds a row nobody handed off.
      await commit('nobody-', 1);
      await eventually(() => expect(via.table).toBe(1), 5_000);
      await emptied();
    } finally {
      await relay.stop();
    }
  });

  it('while the relay is behind, a row nobody handed off still waits no longer than its lag and a poll interval', async () => {
    // 333 rows a second go out (20 per 60 ms round); 500 a second come in for 2 s, so the lag grows to ~0.7 s.
    const { relay, via, order, commit } = await slowRelay('orphan', 60);
    try {
      for (let c = 0; c < 50; c++) {
        relay.handoff(await commit(`c${String(c).padStart(2, '0')}-`, 20));
        // Halfway, the relay about 0.3 s behind: a row committed by someone who never hands it over.
        if (c === 25) await commit('orphan-', 1);
        await new Promise((r) => setTimeout(r, 40));
      }
      await eventually(() => expect(via.handoff + via.table).toBe(1001), 20_000);
      // Found by the safety net well before the queue caught up (it would have waited for all
      // 1 000 hand-offs if the read were skipped while behind) ...
      expect(order.indexOf('orphan-001')).toBeGreaterThanOrEqual(0);
      expect(order.indexOf('orphan-001')).toBeLessThan(900);
      // ... and without reading back the queued rows (a read of everything older than a poll
      // interval would have taken hundreds of them).
      expect(via.table).toBeLessThan(50);
      expect(new Set(order).size).toBe(1001);
    } finally {
      await relay.stop();
    }
  });

  it('hand-offs beyond the cap stay in the table: the queued ones go first, the rest are read after them, in order and once', async () => {
    const { relay, via, order, commit, emptied } = await slowRelay('capped', 50, { maxHandedOff: 50 });
    try {
      const records = await commit('cap-', 120);
      // Twelve commits of ten rows, as a busy worker hands them over: the first five fill the queue.
      for (let i = 0; i < records.length; i += 10) expect(relay.handoff(records.slice(i, i + 10))).toBe(true);
      await eventually(() => expect(via.handoff + via.table).toBe(120), 10_000);
      // The queued fifty were not dropped to be read back; the seventy beyond the cap came from the table.
      expect(via).toEqual({ handoff: 50, table: 70, parked: 0 });
      expect(order).toEqual(records.map((r) => r.messageId));
      await emptied();
    } finally {
      await relay.stop();
    }
  });

  it('the relay deletes published rows without waiting for a WAL flush; the handlers still wait for theirs', async () => {
    env = await TestEnv.create('outbox-relay-session');
    const queries = jest.spyOn(Client.prototype, 'query');
    const relay = relayOf('leader');
    try {
      relay.start();
      await eventually(() => expect(relay.isLeader).toBe(true));
      // The relay's own session: the client that asked for the lease.
      const at = queries.mock.calls.findIndex((c) => String(c[0]).includes(LEASE));
      const session = queries.mock.contexts[at] as Client;
      expect((await session.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]!.synchronous_commit).toBe('off');
      // Handler transactions run with the server's setting, which must be on.
      expect((await env.query<{ synchronous_commit: string }>('SHOW synchronous_commit'))[0]!.synchronous_commit).toBe('on');
    } finally {
      queries.mockRestore();
      await relay.stop();
    }
  });

  it('a relay that does not lead is woken neither by commits nor by nudges: it asks for the lead on its own clock', async () => {
    env = await TestEnv.create('outbox-relay-lead');
    const leader = relayOf('leader');
    const follower = relayOf('follower');
    const queries = jest.spyOn(Client.prototype, 'query');
    // The follower's asks for the lease (the leader renews its own every renewMs besides).
    const lockAsks = () => queries.mock.calls.filter((c) => String(c[0]).includes(`INSERT INTO "inventory".${LEASE}`) && String((c[1] as unknown[] | undefined)?.[1]).startsWith('follower:')).length;
    try {
      leader.start();
      await eventually(() => expect(leader.isLeader).toBe(true));
      follower.start();
      await eventually(() => expect(lockAsks()).toBe(1));
      const since = Date.now();
      // Fifty commits that NOTIFY, the follower's own and another instance's, and nudges.
      for (let i = 0; i < 50; i++) {
        await env.query(`SELECT pg_notify('inventory_outbox', $1)`, [i % 2 ? 'follower' : 'someone-else']);
        if (i % 10 === 0) follower.nudge();
        await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(follower.isLeader).toBe(false);
      // Its clock allows one ask a second; a wake-up per commit would make it dozens, a wake-up never cleared thousands.
      expect(lockAsks() - 1).toBeLessThanOrEqual(1 + Math.floor((Date.now() - since) / 1000));
      // And it still takes over once the leader is gone.
      await leader.stop();
      await eventually(() => expect(follower.isLeader).toBe(true), 5_000);
    } finally {
      queries.mockRestore();
      await leader.stop();
      await follower.stop();
    }
  });

  it('rows written while our relay led, committed after it lost the lead, are announced to the new leader', async () => {
    env = await TestEnv.create('outbox-lost-lead');
    // The test's own session plays the leader elsewhere: it takes the lease from our relay in the
    // middle of a transaction, and it listens for what the writer announces.
    const elsewhere = new Client({ connectionString: env.databaseUrl });
    await elsewhere.connect();
    const notes: string[] = [];
    elsewhere.on('notification', (n) => notes.push(n.payload ?? ''));
    await elsewhere.query('LISTEN inventory_outbox');
    let committedAt = 0;
    const worker = await startInventory(env, { INSTANCE_ID: 'inv-lost-lead', HTTP_PORT: 0, HEARTBEAT_MS: 100, LEASE_TTL_MS: 500 }, {
      testHooks: {
        async beforeCommit(items) {
          if (!items.some((i) => i.envelope.messageId === 'moved')) return;
          await elsewhere.query(`UPDATE inventory.relay_lease SET holder = 'elsewhere', expires_at = now() + interval '1 hour'`);
          await eventually(() => expect(worker.outboxRelay!.isLeader).toBe(false));
          notes.length = 0;
          committedAt = Date.now();
        },
      },
    });
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);
    await eventually(() => expect(worker.outboxRelay!.isLeader).toBe(true));
    await pub.send('ReceiveStock', { productId: 'sku-moved', warehouseId: 'wh-1', quantity: 1 }, { messageId: 'moved' });
    await eventually(() => expect(committedAt).toBeGreaterThan(0), 30_000);
    // Written without a NOTIFY (our relay led then); the hand-off found it no longer leading.
    await eventually(() => expect(notes).toContain(''), 5_000);
    // Once the lease is free again, our relay takes it and publishes the rows.
    await elsewhere.query(`UPDATE inventory.relay_lease SET expires_at = now()`);
    await elsewhere.end();
    await tap.waitForCount('StockReceived', 1, 30_000);
    expect(tap.distinct('StockReceived').map((e) => e.causationId)).toEqual(['moved']);
  });
});
