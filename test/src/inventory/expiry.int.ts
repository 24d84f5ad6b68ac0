import { ExpirySchedule } from '@stockflow/inventory-worker';
import { eventually } from '../support';
import { invariantViolations, stockOf } from './invariants';
import { seededRandom, testSeed } from './random';
import { command, idsOverPartitions, InventoryRig } from './rig';

// Phases wait up to SETTLE_MS each; on a loaded two-core machine 120 s per test is too tight.
jest.setTimeout(300_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Holds run out. The schedulers run fast here (Redis polled every 100 ms, the
 * Postgres sweep every 500 ms for holds 300 ms overdue) so short TTLs expire within seconds.
 */
describe('inventory reservation expiry', () => {
  let rig: InventoryRig;
  const P = 8;
  beforeAll(async () => {
    rig = await InventoryRig.start('expiry', { partitions: P, worker: { EXPIRY_POLL_MS: 100, EXPIRY_SWEEP_MS: 500, EXPIRY_SWEEP_GRACE_MS: 300 } });
    await rig.warehouses(['wh-1']);
  });
  afterAll(async () => rig?.cleanup());

  const reserve = (id: string, productId: string, ttlMs?: number) =>
    command('ReserveStock', { reservationId: id, lines: [{ productId, warehouseId: 'wh-1', quantity: 1 }], ttlMs }, `reserve-${id}`);

  async function statuses(ids: string[]): Promise<Map<string, string>> {
    const rows = await rig.env.query<{ id: string; status: string }>('SELECT id, status FROM inventory.reservation WHERE id = ANY($1::text[])', [ids]);
    return new Map(rows.map((r) => [r.id, r.status]));
  }

  const expiredEvents = (ids: string[]) => rig.tap.distinct('ReservationExpired').filter((e) => ids.includes(e.payload.reservationId as string));

  it('9. held reservation times out → ReservationExpired, stock available again', async () => {
    await rig.stockUp([{ productId: 'sku-x', warehouseId: 'wh-1', quantity: 10 }]);
    const ids = idsOverPartitions('x', 10, P);
    const held = await rig.run(ids.map((id) => reserve(id, 'sku-x', 1000)));
    const expiresAt = new Map([...held.values()].flat().filter((e) => e.type === 'StockReserved').map((e) => [e.payload.reservationId as string, Date.parse(e.payload.expiresAt as string)]));
    // All ten held at once (no check of the row here: on a slow machine the first may be gone).
    expect(expiresAt.size).toBe(10);

    await rig.tap.waitFor(() => expiredEvents(ids).length === 10, 60_000);
    for (const e of expiredEvents(ids)) {
      expect(e.payload).toEqual({
        reservationId: e.payload.reservationId,
        lines: [{ productId: 'sku-x', warehouseId: 'wh-1', quantity: 1 }],
        levels: [expect.objectContaining({ productId: 'sku-x', warehouseId: 'wh-1', onHand: 10 })],
      });
      // Never early: the event left after the hold's own expiresAt.
      expect(e.receivedAt).toBeGreaterThanOrEqual(expiresAt.get(e.payload.reservationId as string)!);
    }
    expect([...(await statuses(ids)).values()]).toEqual(ids.map(() => 'expired'));
    const [ledger] = await rig.env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.ledger WHERE kind = 'expire' AND reservation_id = ANY($1::text[])`, [ids]);
    expect(Number(ledger!.n)).toBe(10);
    await eventually(async () => expect(await stockOf(rig.env, 'sku-x', 'wh-1')).toMatchObject({ on_hand: 10, reserved: 0 }));

    // Available again: all ten can be held once more.
    const again = await rig.run(idsOverPartitions('x-again', 10, P).map((id) => reserve(id, 'sku-x')));
    expect([...InventoryRig.outcomes(again).values()].map((o) => o.join())).toEqual(Array(10).fill('StockReserved'));
    await rig.run(idsOverPartitions('x-again', 10, P).map((id) => command('ReleaseReservation', { reservationId: id }, `release-${id}`)));
    expect(await invariantViolations(rig.env)).toEqual([]);
    // Holds, expiries and releases each reported the row's new levels: versions 1..41, each once.
    const trail = await rig.trail('sku-x', 'wh-1');
    expect(trail.problems).toEqual([]);
    expect(trail.last).toMatchObject({ onHand: 10, reserved: 0, available: 10, version: 41 });
  });

  it('9b. FLUSHALL path: with the Redis schedule gone, the Postgres sweep still expires every hold', async () => {
    await rig.stockUp([{ productId: 'sku-f', warehouseId: 'wh-1', quantity: 5 }]);
    const ids = idsOverPartitions('f', 5, P);
    await rig.run(ids.map((id) => reserve(id, 'sku-f', 3000)));
    // The schedule entry is written after COMMIT, so wait for it before taking it away.
    await eventually(async () => {
      for (const id of ids) expect(await rig.env.redis.zscore(ExpirySchedule.KEY, id)).not.toBeNull();
    });

    // The workers' Redis client prefixes every key with `<namespace>:`, so these keys are all the
    // Redis data they can see: deleting them is FLUSHALL as far as they can tell, without wiping
    // the keys of other test files sharing this Redis server.
    const prefix = `${rig.env.namespace}:`;
    const keys = await rig.env.redis.keys(`${prefix}*`);
    expect(keys).toContain(`${prefix}${ExpirySchedule.KEY}`);
    // keys() returns full names, but every other command (call() too) prefixes the ones it gets.
    await rig.env.redis.del(...keys.map((k) => k.slice(prefix.length)));
    // (Other keys may reappear at once: stray duplicates of earlier expiries still write theirs.)
    expect(await rig.env.redis.exists(ExpirySchedule.KEY)).toBe(0);
    const before = { redis: await rig.expirySends('redis'), sweep: await rig.expirySends('sweep') };

    await rig.tap.waitFor(() => expiredEvents(ids).length === 5, 60_000);
    expect([...(await statuses(ids)).values()]).toEqual(ids.map(() => 'expired'));
    await eventually(async () => expect(await stockOf(rig.env, 'sku-f', 'wh-1')).toMatchObject({ on_hand: 5, reserved: 0 }));
    // The sweep sent them; the emptied schedule sent nothing.
    expect((await rig.expirySends('sweep')) - before.sweep).toBeGreaterThanOrEqual(5);
    expect((await rig.expirySends('redis')) - before.redis).toBe(0);
    expect(await invariantViolations(rig.env)).toEqual([]);
  });

  it('9b2. a hold committed or released before it is due leaves the schedule: no expiry is sent for it later', async () => {
    await rig.stockUp([{ productId: 'sku-closed', warehouseId: 'wh-1', quantity: 6 }]);
    const ids = idsOverPartitions('closed', 6, P);
    // Long enough that closing them surely comes first, even on a slow machine.
    const ttlMs = 10_000;
    const dueAt = Date.now() + ttlMs;
    await rig.run(ids.map((id) => reserve(id, 'sku-closed', ttlMs)));
    await eventually(async () => {
      for (const id of ids) expect(await rig.env.redis.zscore(ExpirySchedule.KEY, id)).not.toBeNull();
    });
    const closing = ids.map((id, i) =>
      i % 2 === 0 ? command('CommitReservation', { reservationId: id }, `commit-${id}`) : command('ReleaseReservation', { reservationId: id }, `release-${id}`),
    );
    const outcomes = InventoryRig.outcomes(await rig.run(closing));
    expect([...outcomes.values()].map((o) => o.join()).sort()).toEqual([...Array(3).fill('ReservationCommitted'), ...Array(3).fill('ReservationReleased')]);

    // Gone from the schedule once closed, so nothing wakes up for them when they would have
    // been due (an ExpireReservation then would only be refused, one wasted round trip each).
    await eventually(async () => {
      for (const id of ids) expect({ id, score: await rig.env.redis.zscore(ExpirySchedule.KEY, id) }).toEqual({ id, score: null });
    }, Math.max(500, dueAt - Date.now() - 500));
    await sleep(dueAt - Date.now() + 1500);
    const refusedExpiries = rig.tap.distinct('ReservationTransitionRejected').filter((e) => ids.includes(e.payload.reservationId as string));
    expect(refusedExpiries.map((e) => e.payload)).toEqual([]);
  });

  it('9e. a slow schedule write after a commit does not hold up the partition, and a later release still removes the entry', async () => {
    await rig.stockUp([{ productId: 'sku-slow-zadd', warehouseId: 'wh-1', quantity: 5 }]);
    const add = Reflect.get<ExpirySchedule, 'add'>(ExpirySchedule.prototype, 'add');
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    // As a slow Redis: the ZADD goes out at once, its answer comes when the gate opens.
    const slowAdd = jest.spyOn(ExpirySchedule.prototype, 'add').mockImplementation(function (this: ExpirySchedule, id, at) {
      const sent = add.call(this, id, at);
      return gate.then(() => sent);
    });
    try {
      await rig.run([reserve('slow-zadd', 'sku-slow-zadd', 60_000)]);
      await eventually(async () => expect(slowAdd).toHaveBeenCalledTimes(1));
      // Same product and warehouse, so the same partition, while the hold's schedule write is unanswered.
      const after = await rig.run([command('ReceiveStock', { productId: 'sku-slow-zadd', warehouseId: 'wh-1', quantity: 1 }, 'receive-behind-slow-zadd')]);
      expect(InventoryRig.outcomes(after).get('receive-behind-slow-zadd')).toEqual(['StockReceived']);
      await rig.run([command('ReleaseReservation', { reservationId: 'slow-zadd' }, 'release-slow-zadd')]);
      open();
      await slowAdd.mock.results[0]!.value;
      // The release's removal went out after the hold's add: no entry is left to wake up.
      await eventually(async () => expect(await rig.env.redis.zscore(ExpirySchedule.KEY, 'slow-zadd')).toBeNull());
    } finally {
      open();
      slowAdd.mockRestore();
    }
  });

  it('9d. a hold whose expiry is held up (as behind a backlog) is not re-sent by every sweep pass', async () => {
    await rig.stockUp([{ productId: 'sku-slow', warehouseId: 'wh-1', quantity: 1 }]);
    const [id] = idsOverPartitions('slow', 1, P);
    await rig.run([reserve(id!, 'sku-slow', 500)]);
    // Our lock on the reservation row stands in for a partition backlog: the expiry the
    // scheduler sends cannot apply, so the hold stays held and overdue.
    const blocker = await rig.env.pg.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT id FROM inventory.reservation WHERE id = $1 FOR UPDATE', [id]);
      const before = await rig.expirySends('sweep');
      // 0.5 s TTL, 0.3 s grace, a sweep every 0.5 s: about ten passes see it overdue.
      await sleep(5000);
      expect([...(await statuses([id!])).values()]).toEqual(['held']);
      // At most one send per worker instance (each remembers its own); before the backoff,
      // every pass of every instance sent it again.
      expect((await rig.expirySends('sweep')) - before).toBeLessThanOrEqual(rig.workers.length);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    await rig.tap.waitFor(() => expiredEvents([id!]).length === 1, 60_000);
    await eventually(async () => expect(await stockOf(rig.env, 'sku-slow', 'wh-1')).toMatchObject({ on_hand: 1, reserved: 0 }));
  });

  it('9c. expiry racing a commit or release resolves to exactly one outcome', async () => {
    const random = seededRandom(testSeed());
    rig.env.log.info({ seed: random.seed }, 'test 9c seed');
    const ids = idsOverPartitions('race', 40, P);
    await rig.stockUp([{ productId: 'sku-race', warehouseId: 'wh-1', quantity: ids.length + 3 }]);
    const ttlMs = 1500;
    const closer = (id: string, i: number) =>
      i % 2 === 0 ? command('CommitReservation', { reservationId: id }, `commit-${id}`) : command('ReleaseReservation', { reservationId: id }, `release-${id}`);

    // Each hold gets its commit or release somewhere around its expiry, some of them a second
    // ExpireReservation too, while the scheduler and the sweep do their part.
    await Promise.all(
      ids.map(async (id, i) => {
        const pub = rig.pubs[i % 2]!;
        await pub.send('ReserveStock', reserve(id, 'sku-race', ttlMs).payload, { messageId: `reserve-${id}` });
        await sleep(random.int(ttlMs - 600, ttlMs + 600));
        const c = closer(id, i);
        await pub.send(c.type, c.payload, { messageId: c.messageId });
        if (i % 3 === 0) await rig.pubs[(i + 1) % 2]!.send('ExpireReservation', { reservationId: id }, { messageId: `expire-extra-${id}` });
      }),
    );
    // Pinned edges: a commit well within the hold, and a commit and a release that come after
    // the hold has visibly expired.
    await rig.run([reserve('race-early', 'sku-race', 60_000), reserve('race-late-c', 'sku-race', 200), reserve('race-late-r', 'sku-race', 200)]);
    await rig.run([command('CommitReservation', { reservationId: 'race-early' }, 'commit-race-early')]);
    await rig.tap.waitFor(() => expiredEvents(['race-late-c', 'race-late-r']).length === 2, 60_000);
    await rig.run([command('CommitReservation', { reservationId: 'race-late-c' }, 'commit-race-late-c'), command('ReleaseReservation', { reservationId: 'race-late-r' }, 'release-race-late-r')]);

    const all = [...ids, 'race-early', 'race-late-c', 'race-late-r'];
    const answers = await rig.answers([...ids.map(closer).map((c) => c.messageId), 'commit-race-early', 'commit-race-late-c', 'release-race-late-r']);
    await eventually(async () => expect([...(await statuses(all)).values()].filter((s) => s === 'held')).toEqual([]), 60_000);
    await rig.quiesce();

    const status = await statuses(all);
    const outcomeOf = { committed: 'ReservationCommitted', released: 'ReservationReleased', expired: 'ReservationExpired' } as const;
    const ledger = await rig.env.query<{ reservation_id: string; kinds: string }>(
      `SELECT reservation_id, string_agg(kind, ',' ORDER BY id) AS kinds FROM inventory.ledger WHERE reservation_id = ANY($1::text[]) GROUP BY 1`,
      [all],
    );
    const kinds = new Map(ledger.map((r) => [r.reservation_id, r.kinds]));
    const tally: Record<string, number> = {};
    for (const [i, id] of all.entries()) {
      const s = status.get(id) as keyof typeof outcomeOf;
      tally[s] = (tally[s] ?? 0) + 1;
      const attempted = id === 'race-late-r' || (i < ids.length && i % 2 === 1) ? 'released' : 'committed';
      expect({ id, status: [attempted, 'expired'].includes(s) }).toEqual({ id, status: true });
      // Exactly one outcome event over all of them, and it is the one the row records.
      const outcomes = ['ReservationCommitted', 'ReservationReleased', 'ReservationExpired'].flatMap((t) => rig.tap.distinct(t).filter((e) => e.payload.reservationId === id).map((e) => e.type));
      expect({ id, outcomes }).toEqual({ id, outcomes: [outcomeOf[s]] });
      expect({ id, ledger: kinds.get(id) }).toEqual({ id, ledger: `reserve,${{ committed: 'commit', released: 'release', expired: 'expire' }[s]}` });
      // The commit or release itself: applied, or refused because the hold had expired.
      const closing = answers.get(attempted === 'committed' ? `commit-${id}` : `release-${id}`)!;
      const refusal = { type: 'ReservationTransitionRejected', payload: { reservationId: id, attempted: attempted === 'committed' ? 'commit' : 'release', status: 'expired' } };
      if (s === 'expired') expect(closing).toContainEqual(expect.objectContaining(refusal));
      else expect(closing.map((e) => e.type)).toEqual([outcomeOf[s]]);
    }
    expect(status.get('race-early')).toBe('committed');
    expect(status.get('race-late-c')).toBe('expired');
    expect(status.get('race-late-r')).toBe('expired');
    rig.env.log.info({ tally }, 'expiry race outcomes');

    const committed = [...status.values()].filter((s) => s === 'committed').length;
    expect(await stockOf(rig.env, 'sku-race', 'wh-1')).toMatchObject({ on_hand: ids.length + 3 - committed, reserved: 0 });
    expect(await invariantViolations(rig.env)).toEqual([]);
    expect((await rig.trail('sku-race', 'wh-1')).problems).toEqual([]);
    expect(await rig.deadLetters()).toEqual([]);
  });
});
