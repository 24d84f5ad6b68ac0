import type { Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { moveTo, noChange, orderIdOf, requestRefundIfCaptured, setStock } from '../saga';

/**
 * The hold ran out before the order completed: PENDING, RESERVED or PAID → EXPIRED. Money
 * captured already is refunded now; money captured later is refunded when it is reported
 * (payment-captured.ts). A PAID order's CommitReservation is refused by inventory afterwards
 * (ReservationTransitionRejected), which changes nothing any more.
 */
export const reservationExpired: Handler<OrderUnitOfWork, 'ReservationExpired'> = {
  type: 'ReservationExpired',
  declare: (uow, p) => uow.needOrder(orderIdOf(p)),
  async handle(ctx, p) {
    const o = ctx.uow.order(orderIdOf(p));
    if (!o) return noChange(ctx, o, 'expiry of an unknown order');
    setStock(ctx, o, 'expired');
    if (o.status !== 'PENDING' && o.status !== 'RESERVED' && o.status !== 'PAID') return noChange(ctx, o, 'expiry of a closed order');
    const previousStatus = o.status;
    moveTo(ctx, o, 'EXPIRED', 'reservation_expired');
    const refund = requestRefundIfCaptured(ctx, o);
    ctx.emit('OrderExpired', { orderId: o.id, previousStatus, refund });
  },
};
