import type { HandlerContext } from '@stockflow/shared';
import type { InventoryUnitOfWork, StockRow } from '../unit-of-work';

/** A row's levels as StockChanged and the read model show them. */
export function levelsOf(row: StockRow): StockRow & { available: number } {
  return { productId: row.productId, warehouseId: row.warehouseId, onHand: row.onHand, reserved: row.reserved, available: row.onHand - row.reserved, version: row.version };
}

/** Every effect on a row is followed by its new levels, for read models downstream. */
export function emitLevels(ctx: HandlerContext<InventoryUnitOfWork>, row: StockRow): void {
  ctx.emit('StockChanged', levelsOf(row));
}

export function available(row: StockRow | undefined): number {
  return row ? row.onHand - row.reserved : 0;
}
