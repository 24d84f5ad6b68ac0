import { partitionLabel, propertiesOf } from '@stockflow/shared';
import type { TappedEvent } from '../support';
import { invariantViolations, productTotals, stockOf } from './invariants';
import { seededRandom, testSeed } from './random';
import { command, idsOverPartitions, InventoryRig, type Command } from './rig';

// Phases wait up to SETTLE_MS each; on a loaded two-core machine 120 s per test is too tight.
jest.setTimeout(300_000);

type Line = { productId: string; warehouseId: string; quantity: number };
const rowKey = (p: string, w: string) => `${p}@${w}`;

/**
 * on_hand per row as the applied events say it must be: receipts, shipments, transfers,
 * adjustments and commits (reservations move `reserved` only). Compared with the database this
 * is conservation, row by row.
 */
function expectedOnHand(events: TappedEvent[], initial: Line[]): Map<string, number> {
  const m = new Map<string, number>(initial.map((l) => [rowKey(l.productId, l.warehouseId), l.quantity]));
  const add = (p: unknown, w: unknown, d: number) => m.set(rowKey(p as string, w as string), (m.get(rowKey(p as string, w as string)) ?? 0) + d);
  for (const e of events) {
    const x = e.payload;
    if (e.type === 'StockReceived') add(x.productId, x.warehouseId, x.quantity as number);
    if (e.type === 'StockShipped') add(x.productId, x.warehouseId, -(x.quantity as number));
    if (e.type === 'StockAdjusted') add(x.productId, x.warehouseId, x.delta as number);
    if (e.type === 'StockTransferred') {
      add(x.productId, x.fromWarehouseId, -(x.quantity as number));
      add(x.productId, x.toWarehouseId, x.quantity as number);
    }
    if (e.type === 'ReservationCommitted') for (const l of x.lines as Line[]) add(l.productId, l.warehouseId, -l.quantity);
  }
  return m;
}

function deadlockRetries(rig: InventoryRig): string[] {
  return rig.retriedBatches().filter((l) => /40P01|deadlock/i.test(l));
}

/**
 * Moves that touch one row from many partitions at once. Transfers are
 * keyed by their source location, reservations by their id and receipts by their location,
 * so a hot row is locked by transactions of several partition consumers in two worker
 * instances at the same time.
 */
describe('inventory stock moves under contention', () => {
  let rig: InventoryRig;
  const P = 8;
  beforeAll(async () => {
    rig = await InventoryRig.start('stock-moves', { partitions: P });
    await rig.warehouses(['wh-a', 'wh-b', 'wh-c', 'wh-d']);
  });
  afterAll(async () => rig?.cleanup());

  it('4. many transfers out of one location at once (sum exceeds stock) → no negative, total conserved', async () => {
    const initial = [
      { productId: 'sku-t', warehouseId: 'wh-a', quantity: 50 },
      { productId: 'sku-t', warehouseId: 'wh-b', quantity: 20 },
    ];
    await rig.stockUp(initial);
    const to = ['wh-b', 'wh-c', 'wh-d'];
    const transfer = (id: string, from: string, dest: string, quantity: number) =>
      command('TransferStock', { productId: 'sku-t', fromWarehouseId: from, toWarehouseId: dest, quantity }, id);
    // 120 units asked out of A; at most 50 + 40 (from B) + 20 (from C, which only A can fill)
    // can ever be there, so some of them must be refused.
    const outOfA = Array.from({ length: 40 }, (_, i) => transfer(`t-out-${i}`, 'wh-a', to[i % 3]!, 3));
    const cmds: Command[] = [
      ...outOfA,
      ...Array.from({ length: 20 }, (_, i) => transfer(`t-back-${i}`, 'wh-b', 'wh-a', 2)),
      ...Array.from({ length: 10 }, (_, i) => transfer(`t-c-${i}`, 'wh-c', 'wh-a', 2)),
      ...idsOverPartitions('t-res', 10, P).map((id) => command('ReserveStock', { reservationId: id, lines: [{ productId: 'sku-t', warehouseId: 'wh-a', quantity: 2 }] }, id)),
    ];
    const answers = await rig.run(cmds);
    const outcomes = InventoryRig.outcomes(answers);

    for (const c of cmds) expect([['StockTransferred'], ['StockTransferRejected'], ['StockReserved'], ['StockReservationRejected']]).toContainEqual(outcomes.get(c.messageId));
    const refusedOut = outOfA.filter((c) => outcomes.get(c.messageId)!.join() === 'StockTransferRejected');
    expect(refusedOut.length).toBeGreaterThan(0);
    const refusals = [...answers.values()].flat().filter((e) => e.type === 'StockTransferRejected');
    // C has no row for sku-t until a transfer from A creates one: before that it is unknown_item.
    const wrong = refusals.filter(
      (e) =>
        !((e.payload.reason === 'insufficient_stock' && (e.payload.available as number) < (e.payload.quantity as number)) ||
          (e.payload.reason === 'unknown_item' && e.payload.fromWarehouseId === 'wh-c' && e.payload.available === 0)),
    );
    expect(wrong.map((e) => e.payload)).toEqual([]);

    expect(await productTotals(rig.env, 'sku-t')).toMatchObject({ on_hand: 70 });
    const expected = expectedOnHand([...answers.values()].flat(), initial);
    for (const w of ['wh-a', 'wh-b', 'wh-c', 'wh-d']) {
      expect({ w, on_hand: (await stockOf(rig.env, 'sku-t', w))?.on_hand ?? 0 }).toEqual({ w, on_hand: expected.get(rowKey('sku-t', w)) ?? 0 });
      expect((await rig.trail('sku-t', w)).problems).toEqual([]);
    }
    const [ledger] = await rig.env.query<{ out: number; in: number }>(
      `SELECT coalesce(sum(delta_on_hand) FILTER (WHERE kind = 'transfer_out'), 0)::int AS out, coalesce(sum(delta_on_hand) FILTER (WHERE kind = 'transfer_in'), 0)::int AS in FROM inventory.ledger WHERE product_id = 'sku-t'`,
    );
    expect(ledger!.out + ledger!.in).toBe(0);
    expect(await invariantViolations(rig.env)).toEqual([]);
    expect(deadlockRetries(rig)).toEqual([]);
    expect(await rig.deadLetters()).toEqual([]);
  });

  it('5. simultaneous receipts to one location → every unit counted (no lost update)', async () => {
    const random = seededRandom(testSeed());
    rig.env.log.info({ seed: random.seed }, 'test 5 seed');
    await rig.stockUp([{ productId: 'sku-hot', warehouseId: 'wh-b', quantity: 30 }]);
    const hot = { productId: 'sku-hot', warehouseId: 'wh-a' };
    const receipts = Array.from({ length: 300 }, (_, i) => command('ReceiveStock', { ...hot, quantity: random.int(1, 5) }, `hot-${i}`));
    const transfersIn = Array.from({ length: 30 }, (_, i) => command('TransferStock', { productId: 'sku-hot', fromWarehouseId: 'wh-b', toWarehouseId: 'wh-a', quantity: 1 }, `hot-in-${i}`));
    const home = rig.pub.prepare('ReceiveStock', receipts[0]!.payload).route.partition;
    const others = Array.from({ length: P }, (_, p) => p).filter((p) => p !== home);

    // Receipts of one location share a partition and would be applied one after the other.
    // Half of them are put on the other partition queues instead, as a publisher with another
    // partition count would during a repartition: then every partition consumer adds to this
    // row at the same moment, and only the row lock keeps the count exact.
    await Promise.all([
      rig.sendAll([...receipts.filter((_, i) => i % 2 === 0), ...transfersIn]),
      ...receipts
        .filter((_, i) => i % 2 === 1)
        .map((c, i) => {
          const { envelope, route, body } = rig.pubs[1].prepare('ReceiveStock', c.payload, { messageId: c.messageId });
          return rig.pubs[1].sendRaw(route.exchange, partitionLabel(others[i % others.length]!, P), body, propertiesOf(envelope));
        }),
    ]);
    const answers = await rig.answers([...receipts, ...transfersIn].map((c) => c.messageId));
    const outcomes = InventoryRig.outcomes(answers);
    expect(receipts.every((c) => outcomes.get(c.messageId)!.join() === 'StockReceived')).toBe(true);
    expect(transfersIn.every((c) => outcomes.get(c.messageId)!.join() === 'StockTransferred')).toBe(true);

    const total = receipts.reduce((s, c) => s + (c.payload as Line).quantity, 0) + transfersIn.length;
    const effects = receipts.length + transfersIn.length;
    expect(await stockOf(rig.env, 'sku-hot', 'wh-a')).toEqual({ on_hand: total, reserved: 0, version: effects });
    // Each effect saw the previous one: versions 1..N, each once, with on_hand growing by the
    // effect's own quantity. A lost update would show as a repeated version.
    const received = [...answers.values()].flat().filter((e) => e.type === 'StockReceived').map((e) => e.payload.version as number);
    expect(new Set(received).size).toBe(receipts.length);
    const trail = await rig.trail('sku-hot', 'wh-a');
    expect(trail.problems).toEqual([]);
    expect(trail.last).toMatchObject({ onHand: total, version: effects });
    const [ledger] = await rig.env.query<{ n: string; sum: number }>(`SELECT count(*) AS n, sum(delta_on_hand)::int AS sum FROM inventory.ledger WHERE product_id = 'sku-hot' AND warehouse_id = 'wh-a'`);
    expect({ n: Number(ledger!.n), sum: ledger!.sum }).toEqual({ n: effects, sum: total });
    expect(deadlockRetries(rig)).toEqual([]);
  });

  it('6. mixed receipts + transfers + shipments + reservations interleaved → conservation exact', async () => {
    const random = seededRandom(testSeed());
    rig.env.log.info({ seed: random.seed }, 'test 6 seed');
    const products = ['sku-m1', 'sku-m2'];
    const whs = ['wh-a', 'wh-b', 'wh-c'];
    const initial = products.flatMap((productId) => whs.map((warehouseId) => ({ productId, warehouseId, quantity: 50 })));
    await rig.stockUp(initial);

    let n = 0;
    const moves = (count: number): Command[] =>
      Array.from({ length: count }, () => {
        const productId = random.pick(products);
        const [w1, w2] = [random.pick(whs), random.pick(whs)];
        const id = `mix-${n++}`;
        switch (random.int(0, 3)) {
          case 0:
            return command('ReceiveStock', { productId, warehouseId: w1, quantity: random.int(1, 5) }, id);
          case 1:
            return command('ShipStock', { productId, warehouseId: w1, quantity: random.int(1, 8) }, id);
          case 2:
            return w1 === w2
              ? command('AdjustStock', { mode: 'delta', productId, warehouseId: w1, delta: random.pick([-4, -3, -2, -1, 1, 2, 3, 4]), reason: 'recount' }, id)
              : command('TransferStock', { productId, fromWarehouseId: w1, toWarehouseId: w2, quantity: random.int(1, 8) }, id);
          default: {
            const lines = [{ productId, warehouseId: w1, quantity: random.int(1, 4) }];
            if (w2 !== w1) lines.push({ productId: random.pick(products), warehouseId: w2, quantity: random.int(1, 4) });
            return command('ReserveStock', { reservationId: id, lines }, id);
          }
        }
      });

    // Wave 1: everything at once. Wave 2: each hold committed or released (after its own
    // reservation, so per reservation in order) while more moves keep coming.
    const wave1 = moves(300);
    const first = await rig.run(wave1);
    const held = wave1.filter((c) => c.type === 'ReserveStock' && InventoryRig.outcomes(first).get(c.messageId)!.join() === 'StockReserved');
    expect(held.length).toBeGreaterThan(10);
    const closing = held.map((c) =>
      random.int(0, 1) === 0
        ? command('CommitReservation', { reservationId: c.messageId }, `${c.messageId}-commit`)
        : command('ReleaseReservation', { reservationId: c.messageId, reason: 'changed plans' }, `${c.messageId}-release`),
    );
    const wave2 = [...closing, ...moves(150)];
    const second = await rig.run(wave2);

    const answers = new Map([...first, ...second]);
    const outcomes = InventoryRig.outcomes(answers);
    const allowed = new Set(['StockReceived', 'StockShipped', 'StockShipmentRejected', 'StockTransferred', 'StockTransferRejected', 'StockAdjusted', 'StockAdjustmentRejected', 'StockReserved', 'StockReservationRejected', 'ReservationCommitted', 'ReservationReleased']);
    for (const c of [...wave1, ...wave2]) {
      const o = outcomes.get(c.messageId)!;
      expect({ id: c.messageId, outcome: o.length === 1 && allowed.has(o[0]!) }).toEqual({ id: c.messageId, outcome: true });
    }
    const events = [...answers.values()].flat();
    const refusedForStock = events.filter((e) => e.type === 'StockShipmentRejected' || e.type === 'StockTransferRejected');
    expect(refusedForStock.every((e) => e.payload.reason === 'insufficient_stock' && (e.payload.available as number) < (e.payload.quantity as number))).toBe(true);
    expect(events.filter((e) => e.type === 'StockAdjustmentRejected').every((e) => e.payload.reason === 'insufficient_stock')).toBe(true);

    const expected = expectedOnHand(events, initial);
    const rows = await rig.env.query<{ product_id: string; warehouse_id: string; on_hand: number }>(
      `SELECT product_id, warehouse_id, on_hand FROM inventory.stock WHERE product_id = ANY($1::text[]) ORDER BY 1, 2`,
      [products],
    );
    expect(new Map(rows.map((r) => [rowKey(r.product_id, r.warehouse_id), r.on_hand]))).toEqual(expected);
    // Every kind of move reported each row it changed in its event's `levels`.
    for (const r of rows) {
      const row = rowKey(r.product_id, r.warehouse_id);
      expect({ row, problems: (await rig.trail(r.product_id, r.warehouse_id)).problems }).toEqual({ row, problems: [] });
    }
    for (const p of products) {
      const sum = (types: string[], field: 'quantity' | 'delta') =>
        events.filter((e) => types.includes(e.type) && e.payload.productId === p).reduce((s, e) => s + (e.payload[field] as number), 0);
      const committed = events
        .filter((e) => e.type === 'ReservationCommitted')
        .flatMap((e) => e.payload.lines as Line[])
        .filter((l) => l.productId === p)
        .reduce((s, l) => s + l.quantity, 0);
      // Σ on_hand = initial + receipts − shipments − commits ± adjustments; transfers net 0.
      expect((await productTotals(rig.env, p)).on_hand).toBe(150 + sum(['StockReceived'], 'quantity') - sum(['StockShipped'], 'quantity') - committed + sum(['StockAdjusted'], 'delta'));
    }
    // Nothing left held: every hold of wave 1 was committed or released in wave 2, and the
    // ones wave 2 made are still held and counted.
    const stillHeld = wave2.filter((c) => c.type === 'ReserveStock' && outcomes.get(c.messageId)!.join() === 'StockReserved').map((c) => c.messageId);
    const heldRows = await rig.env.query<{ id: string }>(`SELECT id FROM inventory.reservation WHERE id LIKE 'mix-%' AND status = 'held' ORDER BY id`);
    expect(heldRows.map((r) => r.id)).toEqual([...stillHeld].sort());
    expect(await invariantViolations(rig.env)).toEqual([]);
    expect(deadlockRetries(rig)).toEqual([]);
    expect(await rig.deadLetters()).toEqual([]);
  });
});
