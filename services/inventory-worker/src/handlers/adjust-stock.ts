import { inventory, type Handler } from '@stockflow/shared';
import type { InventoryUnitOfWork } from '../unit-of-work';
import { levelsOf } from './levels';

/**
 * Delta: on_hand += delta. Set: on_hand := count, only if the row is still at expectedVersion
 * (optimistic: a stale count is refused with the current version, and the caller recounts).
 * Neither may cut into reserved stock.
 */
export const adjustStock: Handler<InventoryUnitOfWork, 'AdjustStock'> = {
  type: 'AdjustStock',
  declare: (uow, p) => uow.needStock(p.productId, p.warehouseId, { create: true }),
  async handle(ctx, p) {
    const { uow } = ctx;
    const row = uow.warehouseKnown(p.warehouseId) ? uow.stock(p.productId, p.warehouseId) : undefined;
    const reject = (reason: 'unknown_warehouse' | 'version_conflict' | 'insufficient_stock' | 'capacity_exceeded') =>
      ctx.emit('StockAdjustmentRejected', {
        productId: p.productId,
        warehouseId: p.warehouseId,
        mode: p.mode,
        reason,
        currentVersion: row?.version ?? 0,
        onHand: row?.onHand ?? 0,
        reserved: row?.reserved ?? 0,
      });
    if (!row) return reject('unknown_warehouse');
    if (p.mode === 'set' && row.version !== p.expectedVersion) return reject('version_conflict');
    const delta = p.mode === 'delta' ? p.delta : p.count - row.onHand;
    if (row.onHand + delta < row.reserved) return reject('insufficient_stock');
    if (row.onHand + delta > inventory.MAX_ON_HAND) return reject('capacity_exceeded');
    uow.change(row, { onHand: delta, reserved: 0 }, 'adjustment', ctx.envelope.messageId);
    ctx.emit('StockAdjusted', {
      productId: p.productId,
      warehouseId: p.warehouseId,
      mode: p.mode,
      delta,
      reason: p.reason,
      onHand: row.onHand,
      reserved: row.reserved,
      version: row.version,
      levels: [levelsOf(row)],
    });
  },
};
