import type { Handler } from '@stockflow/shared';
import type { InventoryUnitOfWork } from '../unit-of-work';
import { available, levelsOf } from './levels';

/** Ships unreserved goods; reserved goods leave through CommitReservation instead. */
export const shipStock: Handler<InventoryUnitOfWork, 'ShipStock'> = {
  type: 'ShipStock',
  declare: (uow, p) => uow.needStock(p.productId, p.warehouseId),
  async handle(ctx, p) {
    const { uow } = ctx;
    const row = uow.existingStock(p.productId, p.warehouseId);
    const reason = !uow.warehouseKnown(p.warehouseId) ? 'unknown_warehouse' : !row ? 'unknown_item' : available(row) < p.quantity ? 'insufficient_stock' : undefined;
    if (reason || !row) {
      ctx.emit('StockShipmentRejected', { productId: p.productId, warehouseId: p.warehouseId, quantity: p.quantity, reason: reason ?? 'unknown_item', available: available(row) });
      return;
    }
    uow.change(row, { onHand: -p.quantity, reserved: 0 }, 'shipment', ctx.envelope.messageId);
    ctx.emit('StockShipped', { productId: p.productId, warehouseId: p.warehouseId, quantity: p.quantity, levels: [levelsOf(row)] });
  },
};
