import type { Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { isOpen, moveTo, noChange } from '../saga';

/**
 * The provider declined: the stock goes back (ReleaseReservation) and the order is REJECTED
 * with payment_failed. A failure reported after a capture is stale and changes nothing: the
 * capture is what the provider's ledger holds.
 */
export const paymentFailed: Handler<OrderUnitOfWork, 'PaymentFailed'> = {
  type: 'PaymentFailed',
  declare: (uow, p) => uow.needOrder(p.orderId),
  async handle(ctx, p) {
    const o = ctx.uow.order(p.orderId);
    if (!o) return noChange(ctx, o, 'payment failure of an unknown order');
    if (o.payment === 'captured' || o.payment === 'failed') return noChange(ctx, o, `payment failure after ${o.payment}`);
    o.payment = 'failed';
    ctx.uow.touch(o);
    if (!isOpen(o)) return noChange(ctx, o, 'payment failure of a closed order');
    moveTo(ctx, o, 'REJECTED', 'payment_failed');
    ctx.send('ReleaseReservation', { reservationId: o.id, reason: 'payment failed' });
    ctx.emit('OrderRejected', { orderId: o.id, reason: 'payment_failed', detail: { provider: p.reason } });
  },
};
