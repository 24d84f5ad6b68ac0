import type { Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { moveTo, noChange, orderIdOf, setStock } from '../saga';

/**
 * The message-world 409: PENDING → REJECTED with inventory's reason. Nothing was held and no
 * payment was asked for yet. Later refusals (reservation_closed after a cancel's tombstone, or
 * a repeated ReserveStock after the hold closed) change nothing.
 */
export const stockReservationRejected: Handler<OrderUnitOfWork, 'StockReservationRejected'> = {
  type: 'StockReservationRejected',
  declare: (uow, p) => uow.needOrder(orderIdOf(p)),
  async handle(ctx, p) {
    const o = ctx.uow.order(orderIdOf(p));
    if (!o) return noChange(ctx, o, 'reservation refusal of an unknown order');
    // A refusal of our own ReserveStock (after a cancel's tombstone, too) means no hold exists.
    if (o.stock === 'none' || o.stock === 'requested') setStock(ctx, o, 'rejected');
    if (o.status !== 'PENDING') return noChange(ctx, o, 'reservation refused after PENDING');
    moveTo(ctx, o, 'REJECTED', p.reason);
    ctx.emit('OrderRejected', {
      orderId: o.id,
      reason: p.reason,
      detail: { lines: p.lines.map((l) => ({ productId: l.productId, warehouseId: l.warehouseId, quantity: l.quantity, available: l.available })) },
    });
  },
};
