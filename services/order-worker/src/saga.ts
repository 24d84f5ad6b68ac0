import type { HandlerContext } from '@stockflow/shared';
import type { OrderRow, OrderStatus, OrderUnitOfWork, StockStatus } from './unit-of-work';

export type OrderContext = HandlerContext<OrderUnitOfWork>;

/** Terminal statuses; CONFIRMED is the only one reached with the goods and the money kept. */
export const TERMINAL: readonly OrderStatus[] = ['CONFIRMED', 'REJECTED', 'CANCELLED', 'EXPIRED'];

/** Statuses in which the order still waits for stock or money and can fail or be cancelled. */
export function isOpen(o: OrderRow): boolean {
  return o.status === 'PENDING' || o.status === 'RESERVED';
}

/** reservationId = orderId is the saga's rule; orderId is absent on a few inventory answers. */
export function orderIdOf(p: { reservationId: string; orderId?: string | undefined }): string {
  return p.orderId ?? p.reservationId;
}

export function moveTo(ctx: OrderContext, o: OrderRow, to: OrderStatus, reason: string | null = null): void {
  ctx.uow.transition(o, to, reason, ctx.envelope);
}

/**
 * Mirrors inventory's view of the hold. Inventory emits a reservation's events in the order it
 * applied them (one partition, one outbox), so the last one received is its current state;
 * only `committed` is final, nothing can undo a shipment.
 */
export function setStock(ctx: OrderContext, o: OrderRow, to: StockStatus): void {
  if (o.stock === to || o.stock === 'committed') return;
  o.stock = to;
  ctx.uow.touch(o);
}

/**
 * Money was captured for an order that will not be confirmed: ask for it back, once per
 * order (the flag is the guard; the provider's refund key `order-{id}-refund` is the second).
 */
export function requestRefundIfCaptured(ctx: OrderContext, o: OrderRow): boolean {
  if (o.payment !== 'captured' || o.refund !== 'none' || o.capturedAmount === null || o.capturedCurrency === null) return false;
  if (o.status !== 'CANCELLED' && o.status !== 'EXPIRED' && o.status !== 'REJECTED') return false;
  o.refund = 'requested';
  ctx.uow.touch(o);
  // What was taken, in the currency it was taken in (not necessarily the order's).
  ctx.emit('RefundRequested', {
    orderId: o.id,
    amount: o.capturedAmount,
    currency: o.capturedCurrency,
    reason: o.status === 'CANCELLED' ? 'cancelled' : o.status === 'EXPIRED' ? 'expired' : 'rejected',
  });
  return true;
}

/** Logs an event that changes nothing (duplicate, late, or for an order we do not know). */
export function noChange(ctx: OrderContext, o: OrderRow | undefined, why: string): void {
  ctx.log.debug({ orderId: o?.id, status: o?.status, why }, 'no change');
}
