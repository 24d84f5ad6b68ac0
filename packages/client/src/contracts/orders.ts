import { z } from 'zod';
import { Id, Quantity, Reason, rule } from './common';

export const Currency = z.string().regex(/^[A-Z]{3}$/, 'ISO 4217 code');
/** Money in minor units (cents): integers only, so sums are exact. */
export const Money = z.number().int().min(0).max(1_000_000_000_00);

export const OrderLine = z.strictObject({ productId: Id, warehouseId: Id, quantity: Quantity, unitPrice: Money });
export type OrderLine = z.infer<typeof OrderLine>;

/** What the order costs, in minor units: Σ quantity × unitPrice. */
export function orderAmount(lines: readonly { quantity: number; unitPrice: number }[]): number {
  return lines.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0);
}

export const PlaceOrder = rule(
  rule(
    z.strictObject({
      orderId: Id,
      customerId: Id,
      currency: Currency,
      lines: z.array(OrderLine).min(1).max(50),
      /** How long stock is held waiting for payment; inventory's default when absent. */
      reservationTtlMs: z.number().int().min(100).max(7 * 86_400_000).optional(),
    }),
    (o) => new Set(o.lines.map((l) => `${l.productId}:${l.warehouseId}`)).size === o.lines.length,
    'each product+warehouse may appear once per order',
  ),
  (o) => Money.safeParse(orderAmount(o.lines)).success,
  'the order total (sum of quantity x unitPrice) must fit in Money',
);

export const CancelReason = z.enum(['customer_request', 'payment_problem', 'out_of_stock', 'fraud_suspected', 'other']);

export const CancelOrder = z.strictObject({ orderId: Id, reason: CancelReason, note: Reason.optional() });

/** Version 1 of CancelOrder: the reason was free text. Its copies become `other` with the text as note. */
export const CancelOrderV1 = z.strictObject({ orderId: Id, reason: Reason.optional() });
export function cancelOrderFromV1(v1: z.infer<typeof CancelOrderV1>): z.input<typeof CancelOrder> {
  return v1.reason === undefined ? { orderId: v1.orderId, reason: 'other' } : { orderId: v1.orderId, reason: 'other', note: v1.reason };
}

export const OrderStatus = z.enum(['PENDING', 'RESERVED', 'PAID', 'CONFIRMED', 'REJECTED', 'CANCELLED', 'EXPIRED']);
export type OrderStatus = z.infer<typeof OrderStatus>;

export const OrderPlaced = z.strictObject({ orderId: Id, customerId: Id, amount: Money, currency: Currency });
export const OrderConfirmed = z.strictObject({ orderId: Id, amount: Money, currency: Currency });
export const OrderRejected = z.strictObject({
  orderId: Id,
  reason: z.enum(['insufficient_stock', 'unknown_item', 'unknown_warehouse', 'payment_failed', 'payment_mismatch', 'reservation_closed', 'reservation_exists', 'version_conflict']),
  detail: z.unknown().optional(),
});
/** previousStatus is null when the cancel arrived before the order: the order id is then burned. */
export const OrderCancelled = z.strictObject({ orderId: Id, previousStatus: OrderStatus.nullable(), refund: z.boolean() });
export const OrderCancelRejected = z.strictObject({ orderId: Id, status: OrderStatus });
export const OrderExpired = z.strictObject({ orderId: Id, previousStatus: OrderStatus, refund: z.boolean() });
/**
 * Something happened to an order that no rule settles by itself and a person should look at:
 * its money was refunded at the provider after it was confirmed (goods shipped, money back).
 */
export const OrderReviewRequired = z.strictObject({
  orderId: Id,
  status: OrderStatus,
  reason: z.enum(['refunded_after_confirmation']),
  detail: z.unknown().optional(),
});
export const RefundRequested = z.strictObject({
  orderId: Id,
  amount: Money,
  currency: Currency,
  reason: z.enum(['cancelled', 'expired', 'rejected']),
});
