import { assertDeclared, lockInOrder, stockKey, type StockLine, type Tx, type UnitOfWork, unnestArrays } from '@stockflow/shared';

export type LedgerKind = 'receipt' | 'adjustment' | 'transfer_out' | 'transfer_in' | 'shipment' | 'reserve' | 'release' | 'commit' | 'expire';
export type ReservationStatus = 'held' | 'released' | 'committed' | 'expired';

export interface StockRow {
  productId: string;
  warehouseId: string;
  onHand: number;
  reserved: number;
  version: number;
}

export interface ReservationRow {
  id: string;
  orderId: string | null;
  lines: StockLine[];
  status: ReservationStatus;
  expiresAt: Date;
}

interface LedgerRow {
  productId: string;
  warehouseId: string;
  deltaOnHand: number;
  deltaReserved: number;
  kind: LedgerKind;
  messageId: string;
  reservationId: string | null;
}

/**
 * One transaction's view of inventory. Handlers first declare what they will touch; load()
 * then locks reservations (sorted by id) and stock rows (sorted by product, warehouse) -- the
 * one canonical lock order of this schema -- and handlers work on the locked copies in
 * memory. flush() queues changed rows, new reservations and ledger rows in bulk (Tx.write): they
 * reach Postgres in one statement together with the outbox rows.
 *
 * Rows a receipt or transfer may need are created first, in sorted order, before any lock is
 * taken: a SELECT … FOR UPDATE never waits on another transaction's uncommitted insert, and
 * the inserts themselves go in key order, so no two transactions can wait on each other in a
 * cycle. Created rows that no effect used are deleted again in flush().
 */
export class InventoryUnitOfWork implements UnitOfWork {
  private readonly wantStock = new Map<string, { productId: string; warehouseId: string; create: boolean }>();
  private readonly wantReservations = new Set<string>();
  private readonly wantWarehouses = new Set<string>();

  private readonly stockRows = new Map<string, StockRow>();
  private readonly dirtyStock = new Set<string>();
  /** Rows this transaction inserted up front; the ones no effect touched are removed again. */
  private readonly createdStock = new Set<string>();
  private readonly reservations = new Map<string, ReservationRow>();
  private readonly newReservations = new Set<string>();
  private readonly changedReservations = new Set<string>();
  private readonly knownWarehouses = new Set<string>();
  private readonly newWarehouses = new Map<string, string>();
  private readonly ledger: LedgerRow[] = [];
  private loaded = false;

  constructor(private readonly tx: Tx) {}

  // ---- declaration (before load) ---------------------------------------------------------

  needStock(productId: string, warehouseId: string, opts: { create?: boolean } = {}): void {
    const key = stockKey(productId, warehouseId);
    const prev = this.wantStock.get(key);
    this.wantStock.set(key, { productId, warehouseId, create: (prev?.create ?? false) || (opts.create ?? false) });
    this.wantWarehouses.add(warehouseId);
  }

  needReservation(id: string): void {
    this.wantReservations.add(id);
  }

  needWarehouse(id: string): void {
    this.wantWarehouses.add(id);
  }

  // ---- load --------------------------------------------------------------------------------

  async load(): Promise<void> {
    if (this.wantReservations.size > 0) {
      const reservations = await lockInOrder<{ id: string; order_id: string | null; lines: StockLine[]; status: ReservationStatus; expires_at: Date }>(this.tx, {
        table: 'inventory.reservation',
        columns: ['id'],
        types: ['text'],
        keys: [...this.wantReservations].map((id) => [id]),
        select: 't.id, t.order_id, t.lines, t.status, t.expires_at',
      });
      for (const r of reservations) {
        this.reservations.set(r.id, { id: r.id, orderId: r.order_id, lines: r.lines, status: r.status, expiresAt: r.expires_at });
        // Lines never change after creation, so the rows they name can be locked next.
        for (const l of r.lines) this.needStock(l.productId, l.warehouseId);
      }
    }

    // Sent together (Tx.query pipelines): Postgres runs the up-front inserts before the locks.
    const created = this.checkWarehousesAndCreateRows();
    const locked = lockInOrder<{ product_id: string; warehouse_id: string; on_hand: number; reserved: number; version: number }>(this.tx, {
      table: 'inventory.stock',
      columns: ['product_id', 'warehouse_id'],
      types: ['text', 'text'],
      keys: [...this.wantStock.values()].map((s) => [s.productId, s.warehouseId]),
      select: 't.product_id, t.warehouse_id, t.on_hand, t.reserved, t.version',
    });
    locked.catch(() => undefined);
    await created;
    const rows = await locked;
    for (const r of rows) {
      this.stockRows.set(stockKey(r.product_id, r.warehouse_id), {
        productId: r.product_id,
        warehouseId: r.warehouse_id,
        onHand: r.on_hand,
        reserved: r.reserved,
        version: r.version,
      });
    }
    this.loaded = true;
  }

  /**
   * One statement: which declared warehouses exist, and the up-front insert of the stock rows
   * a receipt or transfer may create (only in known warehouses, in key order).
   */
  private async checkWarehousesAndCreateRows(): Promise<void> {
    if (this.wantWarehouses.size === 0) return;
    const toCreate = [...this.wantStock.values()].filter((s) => s.create);
    // With nothing to create the INSERT gets empty arrays and does nothing.
    const rows = await this.tx.query<{ warehouse_id: string; product_id: string | null }>(
      `WITH wh AS (SELECT id FROM inventory.warehouse WHERE id = ANY($1::text[])),
       created AS (
         INSERT INTO inventory.stock (product_id, warehouse_id)
         SELECT p, w FROM unnest($2::text[], $3::text[]) AS k(p, w) WHERE w IN (SELECT id FROM wh) ORDER BY p, w
         ON CONFLICT DO NOTHING
         RETURNING product_id, warehouse_id)
       SELECT id AS warehouse_id, NULL AS product_id FROM wh
       UNION ALL SELECT warehouse_id, product_id FROM created`,
      [[...this.wantWarehouses], toCreate.map((s) => s.productId), toCreate.map((s) => s.warehouseId)],
    );
    for (const r of rows) {
      if (r.product_id === null) this.knownWarehouses.add(r.warehouse_id);
      else this.createdStock.add(stockKey(r.product_id, r.warehouse_id));
    }
  }

  // ---- reads (after load) ---------------------------------------------------------------------

  warehouseKnown(id: string): boolean {
    return this.knownWarehouses.has(id) || this.newWarehouses.has(id);
  }

  stock(productId: string, warehouseId: string): StockRow | undefined {
    assertDeclared(this.loaded, stockKey(productId, warehouseId), this.wantStock.has(stockKey(productId, warehouseId)));
    return this.stockRows.get(stockKey(productId, warehouseId));
  }

  /**
   * The row only if it existed before this message: a row inserted up front for a receipt or a
   * transfer that has not happened (yet) is no stock, so a shipment or reservation of it is
   * answered unknown_item, exactly as if it had been alone in its transaction.
   */
  existingStock(productId: string, warehouseId: string): StockRow | undefined {
    const key = stockKey(productId, warehouseId);
    const row = this.stock(productId, warehouseId);
    return this.createdStock.has(key) && !this.dirtyStock.has(key) ? undefined : row;
  }

  reservation(id: string): ReservationRow | undefined {
    assertDeclared(this.loaded, `reservation ${id}`, this.wantReservations.has(id));
    return this.reservations.get(id);
  }

  // ---- writes -------------------------------------------------------------------------------

  /** Changes one row's levels and records the ledger entry; bumps the version. */
  change(row: StockRow, delta: { onHand: number; reserved: number }, kind: LedgerKind, messageId: string, reservationId: string | null = null): StockRow {
    row.onHand += delta.onHand;
    row.reserved += delta.reserved;
    row.version += 1;
    this.dirtyStock.add(stockKey(row.productId, row.warehouseId));
    this.ledger.push({ productId: row.productId, warehouseId: row.warehouseId, deltaOnHand: delta.onHand, deltaReserved: delta.reserved, kind, messageId, reservationId });
    return row;
  }

  addReservation(r: ReservationRow): void {
    this.reservations.set(r.id, r);
    this.newReservations.add(r.id);
  }

  setReservationStatus(r: ReservationRow, status: ReservationStatus): void {
    r.status = status;
    if (!this.newReservations.has(r.id)) this.changedReservations.add(r.id);
  }

  addWarehouse(id: string, name: string): void {
    this.newWarehouses.set(id, name);
  }

  // ---- flush --------------------------------------------------------------------------------

  /** Queues every write (Tx.write): they reach Postgres as one statement with the outbox rows. */
  flush(): Promise<void> {
    const tx = this.tx;
    if (this.newWarehouses.size > 0) {
      tx.write(
        `INSERT INTO inventory.warehouse (id, name) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name`,
        [[...this.newWarehouses.keys()], [...this.newWarehouses.values()]],
      );
    }
    // A refused receipt, transfer or adjustment must leave no empty row behind: it would turn
    // later unknown_item answers into insufficient_stock ones and show up in the read model.
    const unused = [...this.createdStock].filter((k) => !this.dirtyStock.has(k)).map((k) => this.stockRows.get(k)!);
    if (unused.length > 0) {
      tx.write(
        `DELETE FROM inventory.stock s USING unnest($1::text[], $2::text[]) AS v(product_id, warehouse_id)
         WHERE s.product_id = v.product_id AND s.warehouse_id = v.warehouse_id AND s.version = 0`,
        unnestArrays(unused, (r) => [r.productId, r.warehouseId]),
      );
    }
    const dirty = [...this.dirtyStock].map((k) => this.stockRows.get(k)!);
    // Not version-guarded like orders and payments: the row lock alone protects stock, and with
    // locks off (sabotage) the isolation tests must see the lost updates it prevents.
    if (dirty.length > 0) {
      tx.write(
        `UPDATE inventory.stock s
         SET on_hand = v.on_hand, reserved = v.reserved, version = v.version, updated_at = now()
         FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::int[]) AS v(product_id, warehouse_id, on_hand, reserved, version)
         WHERE s.product_id = v.product_id AND s.warehouse_id = v.warehouse_id`,
        unnestArrays(dirty, (r) => [r.productId, r.warehouseId, r.onHand, r.reserved, r.version]),
      );
    }
    const created = [...this.newReservations].map((id) => this.reservations.get(id)!);
    if (created.length > 0) {
      tx.write(
        `INSERT INTO inventory.reservation (id, order_id, lines, status, expires_at, closed_at)
         SELECT id, order_id, lines, status, expires_at, CASE WHEN status = 'held' THEN NULL ELSE now() END
         FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::timestamptz[]) AS r(id, order_id, lines, status, expires_at)`,
        unnestArrays(created, (r) => [r.id, r.orderId, JSON.stringify(r.lines), r.status, r.expiresAt]),
      );
    }
    const changed = [...this.changedReservations].map((id) => this.reservations.get(id)!);
    if (changed.length > 0) {
      tx.write(
        `UPDATE inventory.reservation r SET status = v.status, closed_at = now()
         FROM unnest($1::text[], $2::text[]) AS v(id, status) WHERE r.id = v.id`,
        unnestArrays(changed, (r) => [r.id, r.status]),
      );
    }
    if (this.ledger.length > 0) {
      tx.write(
        `INSERT INTO inventory.ledger (product_id, warehouse_id, delta_on_hand, delta_reserved, kind, message_id, reservation_id)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::text[])`,
        unnestArrays(this.ledger, (r) => [r.productId, r.warehouseId, r.deltaOnHand, r.deltaReserved, r.kind, r.messageId, r.reservationId]),
      );
    }
    return Promise.resolve();
  }
}
