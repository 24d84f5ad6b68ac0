import type { Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { moveTo, noChange, orderIdOf, setStock } from '../saga';

/** PAID → CONFIRMED: the money is in and the goods are out. Terminal. */
export const reservationCommitted: Handler<OrderUnitOfWork, 'ReservationCommitted'> = {
  type: 'ReservationCommitted',
  declare: (uow, p) => uow.needOrder(orderIdOf(p)),
  async handle(ctx, p) {
    const o = ctx.uow.order(orderIdOf(p));
    if (!o) return noChange(ctx, o, 'commit of an unknown order');
    setStock(ctx, o, 'committed');
    if (o.status === 'PAID') {
      moveTo(ctx, o, 'CONFIRMED');
      ctx.emit('OrderConfirmed', { orderId: o.id, amount: o.amount, currency: o.currency! });
      return;
    }
    // Only PAID sends CommitReservation, and nothing leaves PAID before inventory answers it.
    if (o.status !== 'CONFIRMED') ctx.log.error({ orderId: o.id, status: o.status }, 'reservation committed for an order that is not PAID');
    noChange(ctx, o, 'duplicate commit');
  },
};
