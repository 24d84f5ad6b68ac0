import { inventory, type Handler } from '@stockflow/shared';
import type { InventoryUnitOfWork } from '../unit-of-work';
import { available, levelsOf } from './levels';

/** Both rows change in one transaction, locked in the canonical order, so stock is conserved. */
export const transferStock: Handler<InventoryUnitOfWork, 'TransferStock'> = {
  type: 'TransferStock',
  declare: (uow, p) => {
    uow.needStock(p.productId, p.fromWarehouseId);
    uow.needStock(p.productId, p.toWarehouseId, { create: true });
  },
  async handle(ctx, p) {
    const { uow } = ctx;
    const from = uow.warehouseKnown(p.fromWarehouseId) ? uow.existingStock(p.productId, p.fromWarehouseId) : undefined;
    const to = uow.warehouseKnown(p.toWarehouseId) ? uow.stock(p.productId, p.toWarehouseId) : undefined;
    const reason = !uow.warehouseKnown(p.fromWarehouseId) || !uow.warehouseKnown(p.toWarehouseId)
      ? 'unknown_warehouse'
      : !from
        ? 'unknown_item'
        : available(from) < p.quantity
          ? 'insufficient_stock'
          : to && to.onHand + p.quantity > inventory.MAX_ON_HAND
            ? 'capacity_exceeded'
            : undefined;
    if (reason || !from || !to) {
      ctx.emit('StockTransferRejected', { ...p, reason: reason ?? 'unknown_warehouse', available: available(from) });
      return;
    }
    uow.change(from, { onHand: -p.quantity, reserved: 0 }, 'transfer_out', ctx.envelope.messageId);
    uow.change(to, { onHand: p.quantity, reserved: 0 }, 'transfer_in', ctx.envelope.messageId);
    ctx.emit('StockTransferred', { ...p, levels: [levelsOf(from), levelsOf(to)] });
  },
};
