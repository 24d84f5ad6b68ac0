import type { Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { moveTo, noChange, orderIdOf, setStock } from '../saga';

/**
 * PENDING → RESERVED and RequestPayment. In any later status this is a duplicate (inventory
 * answers a repeated ReserveStock of a held reservation with StockReserved again) or late:
 * every way from PENDING to a terminal status has already sent ReleaseReservation or never had
 * a hold, so nothing is left to do.
 */
export const stockReserved: Handler<OrderUnitOfWork, 'StockReserved'> = {
  type: 'StockReserved',
  declare: (uow, p) => uow.needOrder(orderIdOf(p)),
  async handle(ctx, p) {
    const o = ctx.uow.order(orderIdOf(p));
    if (!o) return noChange(ctx, o, 'reservation of an unknown order');
    if (o.stock === 'none' || o.stock === 'requested') setStock(ctx, o, 'held');
    if (o.status !== 'PENDING') return noChange(ctx, o, 'StockReserved after PENDING');
    if (o.payment === 'captured') {
      // Money came first (only a provider-side capture can do that): skip straight to commit.
      moveTo(ctx, o, 'PAID');
      ctx.send('CommitReservation', { reservationId: o.id });
      return;
    }
    moveTo(ctx, o, 'RESERVED');
    o.payment = 'requested';
    ctx.send('RequestPayment', { orderId: o.id, amount: o.amount, currency: o.currency! });
  },
};
