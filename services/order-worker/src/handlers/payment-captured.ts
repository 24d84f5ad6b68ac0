import type { Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { isOpen, moveTo, noChange, requestRefundIfCaptured } from '../saga';

/**
 * RESERVED → PAID and CommitReservation, but only for the order's full amount in the order's
 * currency: a capture of any other amount or currency (a provider bug, a reused key, a forged
 * report) never confirms anything. An open order is then REJECTED (payment_mismatch), its stock
 * released, and the money refunded in the currency it was taken in. Money arriving for an order
 * that will not be confirmed any more (CANCELLED, EXPIRED, REJECTED) is refunded. Money for an
 * order nobody placed (a provider-side charge) is refunded too, and the id is burned with a
 * REJECTED tombstone so a late PlaceOrder does not start a saga that would charge again.
 */
export const paymentCaptured: Handler<OrderUnitOfWork, 'PaymentCaptured'> = {
  type: 'PaymentCaptured',
  declare: (uow, p) => uow.needOrder(p.orderId),
  async handle(ctx, p) {
    let o = ctx.uow.order(p.orderId);
    if (!o) {
      ctx.log.warn({ orderId: p.orderId }, 'payment captured for an unknown order; refunding');
      o = ctx.uow.create(
        { id: p.orderId, customerId: null, currency: p.currency, amount: 0, lines: [], status: 'REJECTED', reason: 'unknown_order', reservationTtlMs: null, stock: 'none', payment: 'none', capturedAmount: null, capturedCurrency: null, providerRef: null, refund: 'none' },
        ctx.envelope,
      );
    }
    if (o.payment === 'captured') return noChange(ctx, o, 'duplicate capture');
    o.payment = 'captured';
    o.capturedAmount = p.amount;
    o.capturedCurrency = p.currency;
    o.providerRef = p.providerRef;
    ctx.uow.touch(o);
    if (isOpen(o) && (p.amount !== o.amount || p.currency !== o.currency)) {
      ctx.log.error({ orderId: o.id, expected: { amount: o.amount, currency: o.currency }, captured: { amount: p.amount, currency: p.currency } }, 'captured amount or currency differs from the order; rejecting and refunding');
      moveTo(ctx, o, 'REJECTED', 'payment_mismatch');
      ctx.send('ReleaseReservation', { reservationId: o.id, reason: 'payment does not match the order' });
      ctx.emit('OrderRejected', { orderId: o.id, reason: 'payment_mismatch', detail: { expected: { amount: o.amount, currency: o.currency }, captured: { amount: p.amount, currency: p.currency, providerRef: p.providerRef } } });
      requestRefundIfCaptured(ctx, o);
      return;
    }
    if (o.status === 'RESERVED') {
      moveTo(ctx, o, 'PAID');
      ctx.send('CommitReservation', { reservationId: o.id });
      return;
    }
    // PENDING waits for StockReserved, which then commits at once; the rest refund.
    requestRefundIfCaptured(ctx, o);
  },
};
