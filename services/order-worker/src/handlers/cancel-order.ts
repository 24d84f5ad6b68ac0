import type { Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { isOpen, moveTo, noChange, requestRefundIfCaptured } from '../saga';

/**
 * A cancel is accepted while the order waits for stock or money (PENDING, RESERVED). It always
 * sends ReleaseReservation: if inventory has not seen the ReserveStock yet, the release leaves
 * a tombstone that refuses it. From PAID on the commit is already on its way, so the cancel is
 * refused (OrderCancelRejected), as it is for any other terminal order. A cancel for an order
 * nobody placed yet burns the id: a tombstone CANCELLED row makes the later PlaceOrder a no-op.
 */
export const cancelOrder: Handler<OrderUnitOfWork, 'CancelOrder'> = {
  type: 'CancelOrder',
  declare: (uow, p) => uow.needOrder(p.orderId),
  async handle(ctx, p) {
    const o = ctx.uow.order(p.orderId);
    const reason = p.note === undefined ? p.reason : `${p.reason}: ${p.note}`;
    if (!o) {
      ctx.uow.create(
        { id: p.orderId, customerId: null, currency: null, amount: 0, lines: [], status: 'CANCELLED', reason, reservationTtlMs: null, stock: 'none', payment: 'none', capturedAmount: null, capturedCurrency: null, providerRef: null, refund: 'none' },
        ctx.envelope,
      );
      ctx.emit('OrderCancelled', { orderId: p.orderId, previousStatus: null, refund: false });
      return;
    }
    if (o.status === 'CANCELLED') return noChange(ctx, o, 'already cancelled');
    if (!isOpen(o)) {
      ctx.emit('OrderCancelRejected', { orderId: o.id, status: o.status });
      return;
    }
    const previousStatus = o.status;
    moveTo(ctx, o, 'CANCELLED', reason);
    ctx.send('ReleaseReservation', { reservationId: o.id, reason: 'order cancelled' });
    const refund = requestRefundIfCaptured(ctx, o);
    ctx.emit('OrderCancelled', { orderId: o.id, previousStatus, refund });
  },
};
