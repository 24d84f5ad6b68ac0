import type { HandlerContext } from '@stockflow/shared';
import type { InventoryUnitOfWork, StockRow } from '../unit-of-work';

/** Every effect on a row is followed by its new levels, for read models downstream. */
export function emitLevels(ctx: HandlerContext<InventoryUnitOfWork>, row: StockRow): void {
  ctx.emit('StockChanged', {
    productId: row.productId,
    warehouseId: row.warehouseId,
    onHand: row.onHand,
    reserved: row.reserved,
    available: row.onHand - row.reserved,
    version: row.version,
  });
}

export function available(row: StockRow | undefined): number {
  return row ? row.onHand - row.reserved : 0;
}
