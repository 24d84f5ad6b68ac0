import { partitionOf, stockKey } from '@stockflow/shared';
import { deadlocksDetected, invariantViolations } from './invariants';
import { seededRandom, testSeed } from './random';
import { command, idsOverPartitions, InventoryRig, type Command } from './rig';

// Phases wait up to SETTLE_MS each; on a loaded two-core machine 120 s per test is too tight.
jest.setTimeout(300_000);

type Line = { productId: string; warehouseId: string; quantity: number };

/**
 * Multi-line reservations lock several stock rows in one transaction; the
 * same rows are locked at the same moment by single-line reservations, receipts, shipments
 * and transfers in both directions, applied by other partitions of two worker instances.
 * Locks are always taken sorted by (product, warehouse), so no two transactions can wait on
 * each other in a cycle: Postgres must detect no deadlock at all, not merely recover from one.
 * Small batches (5) make many more, shorter transactions interleave.
 */
describe('inventory multi-line reservations', () => {
  let rig: InventoryRig;
  const P = 8;
  beforeAll(async () => {
    rig = await InventoryRig.start('multi-line', { partitions: P, worker: { BATCH_SIZE: 5 } });
    await rig.warehouses(['wh-1', 'wh-2']);
  });
  afterAll(async () => rig?.cleanup());

  it('11. multi-line reservation touching keys on different partitions, interleaved with single-line ones on the same keys → no deadlock error surfaces to the user, all-or-nothing holds', async () => {
    const random = seededRandom(testSeed());
    rig.env.log.info({ seed: random.seed }, 'test 11 seed');
    const keys = ['sku-ml-a', 'sku-ml-b', 'sku-ml-c'].flatMap((productId) => ['wh-1', 'wh-2'].map((warehouseId) => ({ productId, warehouseId })));
    expect(new Set(keys.map((k) => partitionOf(stockKey(k.productId, k.warehouseId), P))).size).toBeGreaterThanOrEqual(4);
    await rig.stockUp(keys.map((k) => ({ ...k, quantity: 25 })));
    const deadlocksBefore = await deadlocksDetected(rig.env);

    const multi = idsOverPartitions('ml', 60, P).map((id) => {
      const picked = random.shuffle(keys).slice(0, random.int(2, 4));
      // Lines in any order: the worker, not the sender, must sort them.
      return command('ReserveStock', { reservationId: id, lines: picked.map((k) => ({ ...k, quantity: random.int(1, 3) })) }, id);
    });
    const single = idsOverPartitions('sl', 60, P).map((id) => command('ReserveStock', { reservationId: id, lines: [{ ...random.pick(keys), quantity: random.int(1, 2) }] }, id));
    const moves: Command[] = Array.from({ length: 60 }, (_, i) => {
      const k = random.pick(keys);
      const other = k.warehouseId === 'wh-1' ? 'wh-2' : 'wh-1';
      const id = `move-${i}`;
      if (i % 3 === 0) return command('ReceiveStock', { ...k, quantity: random.int(1, 3) }, id);
      if (i % 3 === 1) return command('ShipStock', { ...k, quantity: random.int(1, 3) }, id);
      return command('TransferStock', { productId: k.productId, fromWarehouseId: k.warehouseId, toWarehouseId: other, quantity: random.int(1, 4) }, id);
    });
    const all = random.shuffle([...multi, ...single, ...moves]);
    const answers = await rig.run(all);

    // Then half of the multi-line holds are committed and half released, while single-line
    // reservations and moves keep coming on the same rows.
    const heldMulti = multi.filter((c) => answers.get(c.messageId)!.some((e) => e.type === 'StockReserved'));
    expect(heldMulti.length).toBeGreaterThan(5);
    const second: Command[] = [
      ...heldMulti.map((c, i) =>
        i % 2 === 0 ? command('CommitReservation', { reservationId: c.messageId }, `${c.messageId}-commit`) : command('ReleaseReservation', { reservationId: c.messageId }, `${c.messageId}-release`),
      ),
      ...idsOverPartitions('sl2', 40, P).map((id) => command('ReserveStock', { reservationId: id, lines: [{ ...random.pick(keys), quantity: 1 }] }, id)),
      ...Array.from({ length: 30 }, (_, i) => {
        const k = random.pick(keys);
        return command('TransferStock', { productId: k.productId, fromWarehouseId: k.warehouseId, toWarehouseId: k.warehouseId === 'wh-1' ? 'wh-2' : 'wh-1', quantity: 1 }, `move2-${i}`);
      }),
    ];
    const secondAnswers = await rig.run(second);
    const outcomes = InventoryRig.outcomes(new Map([...answers, ...secondAnswers]));
    for (const c of [...all, ...second]) expect({ id: c.messageId, answers: outcomes.get(c.messageId)!.length }).toEqual({ id: c.messageId, answers: 1 });

    // All or nothing, from the ledger: a held reservation has exactly one reserve row per
    // line with that line's quantity; a refused one has no row at all, and was refused only
    // because some line really lacked stock at that moment.
    const ledger = await rig.env.query<{ reservation_id: string; product_id: string; warehouse_id: string; delta_reserved: number }>(
      `SELECT reservation_id, product_id, warehouse_id, delta_reserved FROM inventory.ledger WHERE kind = 'reserve' AND reservation_id LIKE 'ml-%'`,
    );
    for (const c of multi) {
      const lines = (c.payload as { lines: Line[] }).lines;
      const rows = ledger.filter((r) => r.reservation_id === c.messageId).map((r) => `${r.product_id}@${r.warehouse_id}:${r.delta_reserved}`).sort();
      const answer = answers.get(c.messageId)![0]!;
      if (answer.type === 'StockReserved') {
        expect({ id: c.messageId, rows }).toEqual({ id: c.messageId, rows: lines.map((l) => `${l.productId}@${l.warehouseId}:${l.quantity}`).sort() });
        // The event carries each line's row levels, in line order.
        const levels = (answer.payload.levels as { productId: string; warehouseId: string }[]).map((l) => `${l.productId}@${l.warehouseId}`);
        expect({ id: c.messageId, levels }).toEqual({ id: c.messageId, levels: lines.map((l) => `${l.productId}@${l.warehouseId}`) });
      } else {
        expect({ id: c.messageId, type: answer.type, rows }).toEqual({ id: c.messageId, type: 'StockReservationRejected', rows: [] });
        const seen = answer.payload.lines as (Line & { available: number })[];
        expect(seen.map((l) => `${l.productId}@${l.warehouseId}`).sort()).toEqual(lines.map((l) => `${l.productId}@${l.warehouseId}`).sort());
        expect(answer.payload.reason).toBe('insufficient_stock');
        expect(seen.some((l) => l.available < l.quantity)).toBe(true);
      }
    }
    const [orphans] = await rig.env.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.reservation WHERE id LIKE 'ml-%' AND id <> ALL($1::text[])`, [heldMulti.map((c) => c.messageId)]);
    expect(Number(orphans!.n)).toBe(0);
    expect(await invariantViolations(rig.env)).toEqual([]);

    // Nothing reached a user as an error: no dead letters, no batch retried for a deadlock,
    // and Postgres itself counted none in this database.
    expect(await rig.deadLetters()).toEqual([]);
    expect(rig.retriedBatches().filter((l) => /40P01|deadlock/i.test(l))).toEqual([]);
    await rig.stopWorkers();
    expect((await deadlocksDetected(rig.env)) - deadlocksBefore).toBe(0);
  });
});
