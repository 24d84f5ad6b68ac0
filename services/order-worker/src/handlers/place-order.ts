import { orders, type Handler } from '@stockflow/shared';
import type { OrderUnitOfWork } from '../unit-of-work';
import { noChange } from '../saga';

/**
 * Starts the saga: PENDING, OrderPlaced, ReserveStock (reservationId = orderId). The order id
 * is the business idempotency key: a second PlaceOrder for a known id (a double submit with a
 * new message id, or one arriving after its own cancel) changes nothing.
 */
export function placeOrder(opts: { defaultTtlMs: number }): Handler<OrderUnitOfWork, 'PlaceOrder'> {
  return {
    type: 'PlaceOrder',
    declare: (uow, p) => uow.needOrder(p.orderId),
    async handle(ctx, p) {
      const existing = ctx.uow.order(p.orderId);
      if (existing) return noChange(ctx, existing, 'PlaceOrder for a known order id');
      const amount = orders.orderAmount(p.lines);
      const ttlMs = p.reservationTtlMs ?? opts.defaultTtlMs;
      ctx.uow.create(
        {
          id: p.orderId,
          customerId: p.customerId,
          currency: p.currency,
          amount,
          lines: p.lines,
          status: 'PENDING',
          reason: null,
          reservationTtlMs: ttlMs,
          stock: 'requested',
          payment: 'none',
          capturedAmount: null,
          capturedCurrency: null,
          providerRef: null,
          refund: 'none',
        },
        ctx.envelope,
      );
      ctx.emit('OrderPlaced', { orderId: p.orderId, customerId: p.customerId, amount, currency: p.currency });
      ctx.send('ReserveStock', {
        reservationId: p.orderId,
        orderId: p.orderId,
        lines: p.lines.map((l) => ({ productId: l.productId, warehouseId: l.warehouseId, quantity: l.quantity })),
        ttlMs,
      });
    },
  };
}
