import type { Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { moveTo, noChange, requestRefundIfCaptured } from '../saga';

/**
 * RESERVED → PAID and CommitReservation. Money arriving for an order that will not be
 * confirmed any more (CANCELLED, EXPIRED, REJECTED) is refunded. Money for an order nobody
 * placed (a provider-side charge) is refunded too, and the id is burned with a REJECTED
 * tombstone so a late PlaceOrder does not start a saga that would charge again.
 */
export const paymentCaptured: Handler<OrderUnitOfWork, 'PaymentCaptured'> = {
  type: 'PaymentCaptured',
  declare: (uow, p) => uow.needOrder(p.orderId),
  async handle(ctx, p) {
    let o = ctx.uow.order(p.orderId);
    if (!o) {
      ctx.log.warn({ orderId: p.orderId }, 'payment captured for an unknown order; refunding');
      o = ctx.uow.create(
        { id: p.orderId, customerId: null, currency: p.currency, amount: 0, lines: [], status: 'REJECTED', reason: 'unknown_order', reservationTtlMs: null, stock: 'none', payment: 'none', capturedAmount: null, providerRef: null, refund: 'none' },
        ctx.envelope,
      );
    }
    if (o.payment === 'captured') return noChange(ctx, o, 'duplicate capture');
    o.payment = 'captured';
    o.capturedAmount = p.amount;
    o.providerRef = p.providerRef;
    o.currency ??= p.currency;
    ctx.uow.touch(o);
    if (o.amount !== p.amount) ctx.log.warn({ orderId: o.id, expected: o.amount, captured: p.amount }, 'captured amount differs from the order amount');
    if (o.status === 'RESERVED') {
      moveTo(ctx, o, 'PAID');
      ctx.send('CommitReservation', { reservationId: o.id });
      return;
    }
    // PENDING waits for StockReserved, which then commits at once; the rest refund.
    requestRefundIfCaptured(ctx, o);
  },
};
