import { DataSource } from 'typeorm';
import { entities, Ledger, Reservation, Stock, type LedgerEntity, type ReservationEntity, type StockEntity } from './db/entities';
import { levelsOf } from './handlers/levels';

export interface StockView {
  productId: string;
  warehouseId: string;
  onHand: number;
  reserved: number;
  available: number;
  version: number;
  updatedAt: string;
  /** Σ ledger deltas: equal to onHand/reserved unless history and state disagree. */
  ledger: { onHand: number; reserved: number; entries: number };
  /** Σ quantity of the held reservation lines on this row: equal to reserved. */
  held: number;
  /** The row, its ledger and its held reservations tell the same story (invariant 1). */
  consistent: boolean;
}

export interface ReservationView {
  id: string;
  orderId: string | null;
  status: ReservationEntity['status'];
  lines: ReservationEntity['lines'];
  expiresAt: string;
  createdAt: string;
  closedAt: string | null;
  /** The stock effects of this reservation, oldest first. */
  ledger: { kind: string; productId: string; warehouseId: string; deltaOnHand: number; deltaReserved: number; messageId: string; at: string }[];
}

/**
 * Queries for humans (the `stock` CLI) and for checks; reads committed state only, through
 * TypeORM on the inventory schema, never through the worker's transactions.
 */
export class InventoryReadModel {
  constructor(private readonly ds: DataSource) {}

  /** A read model on its own small pool (the CLI's); close() when done. */
  static async connect(url: string, applicationName = 'stockflow:read-model'): Promise<InventoryReadModel> {
    const ds = new DataSource({ type: 'postgres', url, schema: 'inventory', entities, synchronize: false, migrationsRun: false, logging: false, poolSize: 2, applicationName });
    await ds.initialize();
    return new InventoryReadModel(ds);
  }

  async close(): Promise<void> {
    if (this.ds.isInitialized) await this.ds.destroy();
  }

  async stock(productId: string, warehouseId: string): Promise<StockView | undefined> {
    return (await this.views(productId, warehouseId))[0];
  }

  /** Every warehouse holding a row for the product, by warehouse id. */
  async productStock(productId: string): Promise<StockView[]> {
    return this.views(productId);
  }

  async reservation(id: string): Promise<ReservationView | undefined> {
    const r = await this.ds.getRepository<ReservationEntity>(Reservation).findOneBy({ id });
    if (!r) return undefined;
    const ledger = await this.ds.getRepository<LedgerEntity>(Ledger).find({ where: { reservationId: id }, order: { id: 'ASC' } });
    return {
      id: r.id,
      orderId: r.orderId,
      status: r.status,
      lines: r.lines,
      expiresAt: r.expiresAt.toISOString(),
      createdAt: r.createdAt.toISOString(),
      closedAt: r.closedAt?.toISOString() ?? null,
      ledger: ledger.map((l) => ({ kind: l.kind, productId: l.productId, warehouseId: l.warehouseId, deltaOnHand: l.deltaOnHand, deltaReserved: l.deltaReserved, messageId: l.messageId, at: l.createdAt.toISOString() })),
    };
  }

  private async views(productId: string, warehouseId?: string): Promise<StockView[]> {
    const where = warehouseId === undefined ? { productId } : { productId, warehouseId };
    const rows = await this.ds.getRepository<StockEntity>(Stock).find({ where, order: { warehouseId: 'ASC' } });
    if (rows.length === 0) return [];
    const query = this.ds
      .getRepository<LedgerEntity>(Ledger)
      .createQueryBuilder('l')
      .select('l.warehouse_id', 'warehouseId')
      .addSelect('COALESCE(SUM(l.delta_on_hand), 0)', 'onHand')
      .addSelect('COALESCE(SUM(l.delta_reserved), 0)', 'reserved')
      .addSelect('COUNT(*)', 'entries')
      .where('l.product_id = :productId', { productId })
      .groupBy('l.warehouse_id');
    if (warehouseId !== undefined) query.andWhere('l.warehouse_id = :warehouseId', { warehouseId });
    const sums = await query.getRawMany<{ warehouseId: string; onHand: string; reserved: string; entries: string }>();
    // Reservation lines live in jsonb; the held quantity per row is summed where it is stored.
    const held = await this.ds.query<{ warehouseId: string; held: string }[]>(
      `SELECT x->>'warehouseId' AS "warehouseId", SUM((x->>'quantity')::int) AS held
       FROM inventory.reservation r CROSS JOIN jsonb_array_elements(r.lines) x
       WHERE r.status = 'held' AND x->>'productId' = $1
       GROUP BY 1`,
      [productId],
    );
    const ledgerOf = new Map(sums.map((s) => [s.warehouseId, s]));
    const heldOf = new Map(held.map((h) => [h.warehouseId, Number(h.held)]));
    return rows.map((row) => {
      const l = ledgerOf.get(row.warehouseId);
      const ledger = { onHand: Number(l?.onHand ?? 0), reserved: Number(l?.reserved ?? 0), entries: Number(l?.entries ?? 0) };
      const heldQty = heldOf.get(row.warehouseId) ?? 0;
      return {
        ...levelsOf(row),
        updatedAt: row.updatedAt.toISOString(),
        ledger,
        held: heldQty,
        consistent: ledger.onHand === row.onHand && ledger.reserved === row.reserved && heldQty === row.reserved && row.onHand >= 0 && row.reserved >= 0 && row.reserved <= row.onHand,
      };
    });
  }
}
