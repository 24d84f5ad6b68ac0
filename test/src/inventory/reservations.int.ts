import { command, idsOverPartitions, InventoryRig } from './rig';
import { invariantViolations, stockOf } from './invariants';

// Phases wait up to SETTLE_MS each; on a loaded two-core machine 120 s per test is too tight.
jest.setTimeout(300_000);

/**
 * Reservations competing for one stock row. Reservations are partitioned
 * by reservationId, so the ones below are applied by every partition consumer of two worker
 * instances at once, and all of them lock the same stock row: the contention the sorted row
 * locks exist for.
 */
describe('inventory reservations under contention', () => {
  let rig: InventoryRig;
  const P = 8;
  beforeAll(async () => {
    rig = await InventoryRig.start('reservations', { partitions: P });
    await rig.warehouses(['wh-1', 'wh-2']);
  });
  afterAll(async () => rig?.cleanup());

  const single = (id: string, productId: string, warehouseId = 'wh-1', quantity = 1) =>
    command('ReserveStock', { reservationId: id, lines: [{ productId, warehouseId, quantity }] }, `reserve-${id}`);

  it('1. 10 concurrent single-unit reservations for stock 3 → exactly 3 StockReserved, 7 rejected, available 0, reserved 3', async () => {
    await rig.stockUp([{ productId: 'sku-3', warehouseId: 'wh-1', quantity: 3 }]);
    const ids = idsOverPartitions('r3', 10, P);
    const outcomes = InventoryRig.outcomes(await rig.run(ids.map((id) => single(id, 'sku-3'))));

    const won = ids.filter((id) => outcomes.get(`reserve-${id}`)!.join() === 'StockReserved');
    const lost = ids.filter((id) => outcomes.get(`reserve-${id}`)!.join() === 'StockReservationRejected');
    expect(won).toHaveLength(3);
    expect(lost).toHaveLength(7);
    const rejections = rig.tap.distinct('StockReservationRejected').filter((e) => lost.includes(e.payload.reservationId as string));
    expect(rejections.map((e) => e.payload)).toEqual(
      lost.map((): unknown => expect.objectContaining({ reason: 'insufficient_stock', lines: [{ productId: 'sku-3', warehouseId: 'wh-1', quantity: 1, available: 0 }] })),
    );

    // One receipt and three holds: version 4, nothing else ever touched the row.
    expect(await stockOf(rig.env, 'sku-3', 'wh-1')).toEqual({ on_hand: 3, reserved: 3, version: 4 });
    const held = await rig.env.query<{ id: string }>(`SELECT id FROM inventory.reservation WHERE id LIKE 'r3-%' AND status = 'held' ORDER BY id`);
    expect(held.map((r) => r.id)).toEqual([...won].sort());
    const [noRow] = await rig.env.query<{ n: string }>('SELECT count(*) AS n FROM inventory.reservation WHERE id = ANY($1::text[])', [lost]);
    expect(Number(noRow!.n)).toBe(0);
    const trail = await rig.trail('sku-3', 'wh-1');
    expect(trail.problems).toEqual([]);
    expect(trail.last).toEqual({ productId: 'sku-3', warehouseId: 'wh-1', onHand: 3, reserved: 3, available: 0, version: 4 });
    expect(await invariantViolations(rig.env)).toEqual([]);
  });

  it('1b. 200 concurrent reservations for stock 37 across 4 keys → exactly 37 held, 163 rejected', async () => {
    const keys = [
      { productId: 'sku-37a', warehouseId: 'wh-1', quantity: 10 },
      { productId: 'sku-37a', warehouseId: 'wh-2', quantity: 9 },
      { productId: 'sku-37b', warehouseId: 'wh-1', quantity: 9 },
      { productId: 'sku-37b', warehouseId: 'wh-2', quantity: 9 },
    ];
    await rig.stockUp(keys);
    const ids = idsOverPartitions('r37', 200, P);
    const key = (i: number) => keys[i % keys.length]!;
    const outcomes = InventoryRig.outcomes(await rig.run(ids.map((id, i) => single(id, key(i).productId, key(i).warehouseId))));

    const count = (type: string) => ids.filter((id) => outcomes.get(`reserve-${id}`)!.join() === type).length;
    expect(count('StockReserved')).toBe(37);
    expect(count('StockReservationRejected')).toBe(163);
    for (const k of keys) {
      expect(await stockOf(rig.env, k.productId, k.warehouseId)).toEqual({ on_hand: k.quantity, reserved: k.quantity, version: 1 + k.quantity });
      const won = ids.filter((id, i) => key(i) === k && outcomes.get(`reserve-${id}`)!.join() === 'StockReserved');
      expect(won).toHaveLength(k.quantity);
      expect((await rig.trail(k.productId, k.warehouseId)).problems).toEqual([]);
    }
    const rejections = rig.tap.distinct('StockReservationRejected').filter((e) => (e.payload.reservationId as string).startsWith('r37-'));
    expect(rejections.every((e) => e.payload.reason === 'insufficient_stock' && (e.payload.lines as { available: number }[])[0]!.available === 0)).toBe(true);
    expect(await invariantViolations(rig.env)).toEqual([]);
  });

  it('2. reserve → release → re-reserve; release twice; commit after release → refused idempotently', async () => {
    await rig.stockUp([{ productId: 'sku-rr', warehouseId: 'wh-1', quantity: 100 }]);
    const ids = idsOverPartitions('rr', 16, P);
    // Each chain is one reservation id, so one partition: publishing its steps one after the
    // other on one channel fixes their order; the 16 chains run concurrently.
    await Promise.all(
      ids.map(async (id, i) => {
        const pub = rig.pubs[i % 2]!;
        const lines = [{ productId: 'sku-rr', warehouseId: 'wh-1', quantity: 2 }];
        await pub.send('ReserveStock', { reservationId: id, lines }, { messageId: `${id}-reserve` });
        await pub.send('ReleaseReservation', { reservationId: id, reason: 'customer cancelled' }, { messageId: `${id}-release` });
        await pub.send('ReleaseReservation', { reservationId: id }, { messageId: `${id}-release-again` });
        await pub.send('CommitReservation', { reservationId: id }, { messageId: `${id}-commit` });
        await pub.send('CommitReservation', { reservationId: id }, { messageId: `${id}-commit` }); // a redelivered copy
        await pub.send('ReserveStock', { reservationId: id, lines }, { messageId: `${id}-reserve-same-id` });
        await pub.send('ReserveStock', { reservationId: `${id}-new`, lines }, { messageId: `${id}-reserve-new-id` });
      }),
    );
    const steps = ['reserve', 'release', 'release-again', 'commit', 'reserve-same-id', 'reserve-new-id'];
    const answers = await rig.answers(ids.flatMap((id) => steps.map((s) => `${id}-${s}`)));
    for (const id of ids) {
      const got = (step: string) => answers.get(`${id}-${step}`)!.map((e) => [e.type, e.payload]);
      expect(got('reserve')).toEqual([['StockReserved', expect.objectContaining({ reservationId: id })]]);
      expect(got('release')).toEqual([['ReservationReleased', expect.objectContaining({ reservationId: id, reason: 'customer cancelled' })]]);
      expect(got('release-again')).toEqual([['ReservationTransitionRejected', { reservationId: id, attempted: 'release', status: 'released' }]]);
      // Two deliveries of one commit id, one answer: the copy was a duplicate, not a second refusal.
      expect(got('commit')).toEqual([['ReservationTransitionRejected', { reservationId: id, attempted: 'commit', status: 'released' }]]);
      expect(got('reserve-same-id')).toEqual([['StockReservationRejected', expect.objectContaining({ reservationId: id, reason: 'reservation_closed' })]]);
      expect(got('reserve-new-id')).toEqual([['StockReserved', expect.objectContaining({ reservationId: `${id}-new` })]]);
    }
    const ledger = await rig.env.query<{ reservation_id: string; kinds: string }>(
      `SELECT reservation_id, string_agg(kind, ',' ORDER BY id) AS kinds FROM inventory.ledger WHERE reservation_id LIKE 'rr-%' GROUP BY 1`,
    );
    expect(new Map(ledger.map((r) => [r.reservation_id, r.kinds]))).toEqual(new Map(ids.flatMap((id) => [[id, 'reserve,release'], [`${id}-new`, 'reserve']])));
    expect(await stockOf(rig.env, 'sku-rr', 'wh-1')).toMatchObject({ on_hand: 100, reserved: 32 });

    // The held ones: commit, then a second commit and a late release are refused, nothing moves twice.
    const closing = ids.flatMap((id) => [
      command('CommitReservation', { reservationId: `${id}-new` }, `${id}-new-commit`),
      command('CommitReservation', { reservationId: `${id}-new` }, `${id}-new-commit-again`),
      command('ReleaseReservation', { reservationId: `${id}-new` }, `${id}-new-release-late`),
    ]);
    for (const c of closing) await rig.pubs[0].send(c.type, c.payload, { messageId: c.messageId });
    const outcomes = InventoryRig.outcomes(await rig.answers(closing.map((c) => c.messageId)));
    for (const id of ids) {
      expect(outcomes.get(`${id}-new-commit`)).toEqual(['ReservationCommitted']);
      expect(outcomes.get(`${id}-new-commit-again`)).toEqual(['ReservationTransitionRejected']);
      expect(outcomes.get(`${id}-new-release-late`)).toEqual(['ReservationTransitionRejected']);
    }
    const refusals = rig.tap.distinct('ReservationTransitionRejected').filter((e) => (e.payload.reservationId as string).endsWith('-new'));
    expect(new Set(refusals.map((e) => `${e.payload.attempted as string}:${e.payload.status as string}`))).toEqual(new Set(['commit:committed', 'release:committed']));
    expect(await stockOf(rig.env, 'sku-rr', 'wh-1')).toMatchObject({ on_hand: 68, reserved: 0 });
    expect(await invariantViolations(rig.env)).toEqual([]);
  });

  it('3. concurrent cancel (release) + new reserve on stock 0 → stock never negative, outcome consistent', async () => {
    await rig.stockUp([{ productId: 'sku-c', warehouseId: 'wh-1', quantity: 6 }]);
    const first = idsOverPartitions('c-old', 6, P);
    const firstOutcomes = InventoryRig.outcomes(await rig.run(first.map((id) => single(id, 'sku-c'))));
    expect([...firstOutcomes.values()].every((o) => o.join() === 'StockReserved')).toBe(true);
    expect(await stockOf(rig.env, 'sku-c', 'wh-1')).toMatchObject({ on_hand: 6, reserved: 6 });

    // Available is 0. At once: every hold is cancelled, 12 new customers reserve, and 6 more
    // cancel a reservation of their own that is racing them (two channels: no order between
    // the ReserveStock and its ReleaseReservation).
    const fresh = idsOverPartitions('c-new', 12, P);
    const racing = idsOverPartitions('c-race', 6, P);
    await Promise.all([
      ...first.map((id, i) => rig.pubs[i % 2]!.send('ReleaseReservation', { reservationId: id, reason: 'cancelled' }, { messageId: `release-${id}` })),
      ...fresh.map((id, i) => rig.pubs[i % 2]!.send('ReserveStock', { reservationId: id, lines: [{ productId: 'sku-c', warehouseId: 'wh-1', quantity: 1 }] }, { messageId: `reserve-${id}` })),
      ...racing.map((id) => rig.pubs[0].send('ReserveStock', { reservationId: id, lines: [{ productId: 'sku-c', warehouseId: 'wh-1', quantity: 1 }] }, { messageId: `reserve-${id}` })),
      ...racing.map((id) => rig.pubs[1].send('ReleaseReservation', { reservationId: id }, { messageId: `release-${id}` })),
    ]);
    const outcomes = InventoryRig.outcomes(
      await rig.answers([...first.map((id) => `release-${id}`), ...fresh.map((id) => `reserve-${id}`), ...racing.flatMap((id) => [`reserve-${id}`, `release-${id}`])]),
    );

    for (const id of first) expect(outcomes.get(`release-${id}`)).toEqual(['ReservationReleased']);
    const won = fresh.filter((id) => outcomes.get(`reserve-${id}`)!.join() === 'StockReserved');
    const lost = fresh.filter((id) => outcomes.get(`reserve-${id}`)!.join() === 'StockReservationRejected');
    expect(won.length + lost.length).toBe(fresh.length);
    expect(won.length).toBeLessThanOrEqual(6);
    // A refusal only ever happened with nothing available at that moment.
    const refusedFresh = rig.tap.distinct('StockReservationRejected').filter((e) => lost.includes(e.payload.reservationId as string));
    expect(refusedFresh.map((e) => [e.payload.reason, (e.payload.lines as { available: number }[])[0]!.available])).toEqual(lost.map(() => ['insufficient_stock', 0]));

    // Each racing pair ends with nothing held, whichever of the two came first.
    for (const id of racing) {
      const pair = [outcomes.get(`reserve-${id}`)!.join(), outcomes.get(`release-${id}`)!.join()];
      expect([
        ['StockReserved', 'ReservationReleased'], // reserve first, then released
        ['StockReservationRejected', 'ReservationTransitionRejected'], // release first (tombstone), or no stock then
      ]).toContainEqual(pair);
    }
    const racingRows = await rig.env.query<{ status: string }>('SELECT status FROM inventory.reservation WHERE id = ANY($1::text[])', [racing]);
    expect(racingRows.map((r) => r.status)).toEqual(racing.map(() => 'released'));

    const held = await rig.env.query<{ id: string }>(`SELECT id FROM inventory.reservation WHERE id LIKE 'c-%' AND status = 'held' ORDER BY id`);
    expect(held.map((r) => r.id)).toEqual([...won].sort());
    expect(await stockOf(rig.env, 'sku-c', 'wh-1')).toMatchObject({ on_hand: 6, reserved: won.length });
    const trail = await rig.trail('sku-c', 'wh-1');
    expect(trail.problems).toEqual([]);
    expect(trail.last).toMatchObject({ onHand: 6, reserved: won.length });
    expect(await invariantViolations(rig.env)).toEqual([]);
    expect(await rig.deadLetters()).toEqual([]);
  });
});
