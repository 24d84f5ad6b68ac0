import type { Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { moveTo, noChange, orderIdOf, requestRefundIfCaptured, setStock } from '../saga';

/**
 * The answer to our own ReleaseReservation (cancel, payment failure): the order is already
 * terminal and only the stock mirror changes. A release nobody in the saga asked for (an
 * operator's) takes the stock away from an open order, which therefore cannot complete:
 * REJECTED with reservation_closed, refunding any captured money.
 */
export const reservationReleased: Handler<OrderUnitOfWork, 'ReservationReleased'> = {
  type: 'ReservationReleased',
  declare: (uow, p) => uow.needOrder(orderIdOf(p)),
  async handle(ctx, p) {
    const o = ctx.uow.order(orderIdOf(p));
    if (!o) return noChange(ctx, o, 'release of an unknown order');
    setStock(ctx, o, 'released');
    if (o.status !== 'PENDING' && o.status !== 'RESERVED' && o.status !== 'PAID') return noChange(ctx, o, 'release of a closed order');
    ctx.log.warn({ orderId: o.id, status: o.status }, 'reservation released outside the saga; rejecting the order');
    moveTo(ctx, o, 'REJECTED', 'reservation_closed');
    requestRefundIfCaptured(ctx, o);
    ctx.emit('OrderRejected', { orderId: o.id, reason: 'reservation_closed', detail: { released: p.reason ?? null } });
  },
};
