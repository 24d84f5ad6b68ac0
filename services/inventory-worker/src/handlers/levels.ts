import type { RowLevels } from '@stockflow/shared';
import type { StockRow } from '../unit-of-work';

/**
 * A row's levels as the inventory events carry them (`levels`) and the read model shows them:
 * a copy, taken right after the change, since a later message of the batch may change the row
 * again before the event is written.
 */
export function levelsOf(row: StockRow): RowLevels {
  return { productId: row.productId, warehouseId: row.warehouseId, onHand: row.onHand, reserved: row.reserved, available: row.onHand - row.reserved, version: row.version };
}

export function available(row: StockRow | undefined): number {
  return row ? row.onHand - row.reserved : 0;
}
