import { inventory, type Handler } from '@stockflow/shared';
import type { InventoryUnitOfWork } from '../unit-of-work';
import { levelsOf } from './levels';

export const receiveStock: Handler<InventoryUnitOfWork, 'ReceiveStock'> = {
  type: 'ReceiveStock',
  declare: (uow, p) => uow.needStock(p.productId, p.warehouseId, { create: true }),
  async handle(ctx, p) {
    const { uow } = ctx;
    const row = uow.warehouseKnown(p.warehouseId) ? uow.stock(p.productId, p.warehouseId) : undefined;
    if (!row) {
      ctx.emit('StockReceiptRejected', { productId: p.productId, warehouseId: p.warehouseId, quantity: p.quantity, reason: 'unknown_warehouse' });
      return;
    }
    if (row.onHand + p.quantity > inventory.MAX_ON_HAND) {
      ctx.emit('StockReceiptRejected', { productId: p.productId, warehouseId: p.warehouseId, quantity: p.quantity, reason: 'capacity_exceeded' });
      return;
    }
    uow.change(row, { onHand: p.quantity, reserved: 0 }, 'receipt', ctx.envelope.messageId);
    ctx.emit('StockReceived', { productId: p.productId, warehouseId: p.warehouseId, quantity: p.quantity, onHand: row.onHand, reserved: row.reserved, version: row.version, levels: [levelsOf(row)] });
  },
};
