import { z } from 'zod';
import { Id, Reason } from './common';
import { Currency, Money } from './orders';

/** Idempotency keys sent to the provider: deterministic per order, so no retry can charge twice. */
export function paymentKey(orderId: string): string {
  return `order-${orderId}-payment`;
}
export function refundKey(orderId: string): string {
  return `order-${orderId}-refund`;
}

export const RequestPayment = z.strictObject({ orderId: Id, amount: Money, currency: Currency });

/**
 * Sent by payment-worker's own sweep for a charge the provider answered `pending` long ago
 * and whose webhook has not come: look the charge up by its idempotency key and settle it.
 */
export const ReconcilePayment = z.strictObject({ orderId: Id });

/**
 * A provider webhook as the HTTP gateway received it: the AMQP body is the provider's raw
 * JSON and the `x-signature` header its HMAC-SHA256 (hex) over exactly those bytes. The one
 * payload whose unknown fields are ignored, not refused: its format is the provider's, and
 * providers add fields without asking (the signature already vouches for the bytes).
 */
const webhookData = {
  idempotencyKey: z.string().min(1).max(200),
  orderId: Id,
  chargeId: z.string().min(1).max(128),
  amount: Money,
  currency: Currency,
  reason: Reason.optional(),
  /** refund.succeeded only: the provider's id of the refund (chargeId is the refunded charge). */
  refundId: z.string().min(1).max(128).optional(),
};
const webhookEvent = {
  id: z.string().min(1).max(128),
  type: z.enum(['payment.captured', 'payment.failed', 'refund.succeeded']),
  createdAt: z.string(),
};
export const ProviderWebhook = z.looseObject({ ...webhookEvent, data: z.looseObject(webhookData) });

/**
 * What a webhook's event id stands for: the fields we know, not the ones the provider adds, so
 * the same event delivered again with a field more or less (an attempt counter) is a duplicate.
 */
export const ProviderWebhookIdentity = z.object({ ...webhookEvent, data: z.object(webhookData) });

export const PaymentCaptured = z.strictObject({ orderId: Id, amount: Money, currency: Currency, providerRef: z.string() });
export const PaymentFailed = z.strictObject({ orderId: Id, reason: Reason });
export const PaymentRefunded = z.strictObject({ orderId: Id, amount: Money, currency: Currency, providerRef: z.string() });
