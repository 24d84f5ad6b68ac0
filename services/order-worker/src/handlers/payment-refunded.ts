import type { Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { noChange } from '../saga';

/**
 * Closes the money side of a refunded order; the saga status stays what it was. A CONFIRMED
 * order refunded at the provider (its goods shipped, its money back: nobody here asked for
 * that refund) is recorded and announced with OrderReviewRequired, for a person to settle.
 */
export const paymentRefunded: Handler<OrderUnitOfWork, 'PaymentRefunded'> = {
  type: 'PaymentRefunded',
  declare: (uow, p) => uow.needOrder(p.orderId),
  async handle(ctx, p) {
    const o = ctx.uow.order(p.orderId);
    if (!o) return noChange(ctx, o, 'refund of an unknown order');
    if (o.refund === 'refunded') return noChange(ctx, o, 'duplicate refund');
    if (o.payment !== 'captured' || o.capturedAmount === null) {
      ctx.log.warn({ orderId: o.id, payment: o.payment }, 'refund reported for an order without a recorded capture; ignored');
      return;
    }
    o.refund = 'refunded';
    ctx.uow.touch(o);
    if (o.status === 'CONFIRMED') {
      ctx.log.error({ orderId: o.id, refunded: p.amount, currency: p.currency }, 'a confirmed order was refunded at the provider; review required');
      ctx.emit('OrderReviewRequired', { orderId: o.id, status: o.status, reason: 'refunded_after_confirmation', detail: { refunded: p.amount, currency: p.currency, refundRef: p.providerRef } });
    }
  },
};
