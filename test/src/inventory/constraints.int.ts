import { invariantViolations, stockOf } from './invariants';
import { command, InventoryRig } from './rig';

// Phases wait up to SETTLE_MS each; on a loaded two-core machine 120 s per test is too tight.
jest.setTimeout(300_000);

/**
 * The schema refuses invalid states by itself. Real traffic first builds a
 * row with stock on hand and held; then plain SQL, as a person with psql (or a buggy handler)
 * would send it, tries to break it. Each statement runs in its own transaction, and a valid
 * statement on the same row is shown to pass, so it is the constraint, not the SQL, refusing.
 */
describe('inventory database constraints', () => {
  let rig: InventoryRig;
  beforeAll(async () => {
    rig = await InventoryRig.start('constraints', { instances: 1, partitions: 4 });
    await rig.warehouses(['wh-1', 'wh-2']);
    await rig.stockUp([{ productId: 'sku-k', warehouseId: 'wh-1', quantity: 10 }]);
    await rig.run([command('ReserveStock', { reservationId: 'k-1', lines: [{ productId: 'sku-k', warehouseId: 'wh-1', quantity: 4 }] }, 'reserve-k-1')]);
  });
  afterAll(async () => rig?.cleanup());

  /** Runs one statement in its own transaction; resolves with the error Postgres raised, if any. */
  async function attempt(sql: string, params: unknown[] = []): Promise<{ code?: string; constraint?: string; message?: string } | undefined> {
    const client = await rig.env.pg.connect();
    try {
      await client.query('BEGIN');
      await client.query(sql, params);
      await client.query('ROLLBACK');
      return undefined;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      const e = err as { code?: string; constraint?: string; message?: string };
      return { code: e.code, constraint: e.constraint, message: e.message };
    } finally {
      client.release();
    }
  }

  const row = `product_id = 'sku-k' AND warehouse_id = 'wh-1'`;

  it('10. database constraints refuse invalid states even when a handler is bypassed (direct UPDATE driving on_hand negative fails)', async () => {
    const before = await stockOf(rig.env, 'sku-k', 'wh-1');
    expect(before).toEqual({ on_hand: 10, reserved: 4, version: 2 });

    // The control: a valid write to the same row goes through (and is rolled back).
    expect(await attempt(`UPDATE inventory.stock SET on_hand = on_hand + 1 WHERE ${row}`)).toBeUndefined();

    const checkViolation = (constraint: string): unknown => expect.objectContaining({ code: '23514', constraint });
    expect(await attempt(`UPDATE inventory.stock SET on_hand = on_hand - 1000 WHERE ${row}`)).toEqual(checkViolation('stock_on_hand_non_negative'));
    expect(await attempt(`UPDATE inventory.stock SET on_hand = -1, reserved = 0 WHERE ${row}`)).toEqual(checkViolation('stock_on_hand_non_negative'));
    expect(await attempt(`UPDATE inventory.stock SET on_hand = 3 WHERE ${row}`)).toEqual(checkViolation('stock_reserved_within_on_hand'));
    expect(await attempt(`UPDATE inventory.stock SET reserved = on_hand + 1 WHERE ${row}`)).toEqual(checkViolation('stock_reserved_within_on_hand'));
    expect(await attempt(`UPDATE inventory.stock SET reserved = -1 WHERE ${row}`)).toEqual(checkViolation('stock_reserved_within_on_hand'));
    expect(await attempt(`INSERT INTO inventory.stock (product_id, warehouse_id, on_hand) VALUES ('sku-k', 'wh-2', -5)`)).toEqual(checkViolation('stock_on_hand_non_negative'));
    // Stock can only live in a known warehouse.
    expect(await attempt(`INSERT INTO inventory.stock (product_id, warehouse_id, on_hand) VALUES ('sku-k', 'wh-nowhere', 5)`)).toEqual(
      expect.objectContaining({ code: '23503', constraint: 'stock_warehouse_id_fkey' }),
    );
    expect(await attempt(`INSERT INTO inventory.reservation (id, lines, status, expires_at) VALUES ('k-bad', '[]', 'pending', now())`)).toEqual(
      expect.objectContaining({ code: '23514', constraint: 'reservation_status_check' }),
    );
    expect(await attempt(`INSERT INTO inventory.ledger (product_id, warehouse_id, delta_on_hand, delta_reserved, kind, message_id) VALUES ('sku-k', 'wh-1', 5, 0, 'gift', 'psql')`)).toEqual(
      expect.objectContaining({ code: '23514', constraint: 'ledger_kind_check' }),
    );
    // History is append-only: no edit and no delete, not even of one row.
    const appendOnly = expect.objectContaining({ code: '23001', message: expect.stringMatching(/append-only/) });
    expect(await attempt(`UPDATE inventory.ledger SET delta_on_hand = delta_on_hand + 1 WHERE ${row}`)).toEqual(appendOnly);
    expect(await attempt(`DELETE FROM inventory.ledger WHERE ${row}`)).toEqual(appendOnly);

    // Nothing moved, the history still explains the row, and the worker carries on.
    expect(await stockOf(rig.env, 'sku-k', 'wh-1')).toEqual(before);
    expect(await invariantViolations(rig.env)).toEqual([]);
    const after = await rig.run([command('ShipStock', { productId: 'sku-k', warehouseId: 'wh-1', quantity: 6 }, 'ship-k')]);
    expect(InventoryRig.outcomes(after).get('ship-k')).toEqual(['StockShipped']);
    expect(await stockOf(rig.env, 'sku-k', 'wh-1')).toEqual({ on_hand: 4, reserved: 4, version: 3 });
  });
});
