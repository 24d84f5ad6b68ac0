import type { Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { moveTo, noChange, orderIdOf, requestRefundIfCaptured, setStock } from '../saga';

/**
 * Inventory refused a release or commit. Only a refused commit of a PAID order matters: the
 * stock is gone (expired, typically, because the commit came after expires_at), so the order
 * cannot be confirmed. It expires and the money is refunded: no order is ever confirmed
 * without committed stock. A refused release (the hold had expired or never existed) changes
 * nothing: the order is terminal already.
 */
export const reservationTransitionRejected: Handler<OrderUnitOfWork, 'ReservationTransitionRejected'> = {
  type: 'ReservationTransitionRejected',
  declare: (uow, p) => uow.needOrder(orderIdOf(p)),
  async handle(ctx, p) {
    const o = ctx.uow.order(orderIdOf(p));
    if (!o) return noChange(ctx, o, 'refusal for an unknown order');
    if (p.attempted !== 'commit' || o.status !== 'PAID') return noChange(ctx, o, `${p.attempted} refused (${p.status})`);
    if (p.status === 'committed') {
      // A repeated commit; ReservationCommitted normally got here first.
      setStock(ctx, o, 'committed');
      moveTo(ctx, o, 'CONFIRMED');
      ctx.emit('OrderConfirmed', { orderId: o.id, amount: o.amount, currency: o.currency! });
      return;
    }
    if (p.status === 'expired') {
      setStock(ctx, o, 'expired');
      moveTo(ctx, o, 'EXPIRED', 'reservation_expired');
      const refund = requestRefundIfCaptured(ctx, o);
      ctx.emit('OrderExpired', { orderId: o.id, previousStatus: 'PAID', refund });
      return;
    }
    setStock(ctx, o, p.status === 'released' ? 'released' : 'rejected');
    moveTo(ctx, o, 'REJECTED', 'reservation_closed');
    requestRefundIfCaptured(ctx, o);
    ctx.emit('OrderRejected', { orderId: o.id, reason: 'reservation_closed', detail: { commitRefused: p.status } });
  },
};
