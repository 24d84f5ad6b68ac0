import { payments, type HandlerContext } from '@stockflow/shared';
import type { PaymentRow, PaymentUnitOfWork } from './unit-of-work';

export type PaymentContext = HandlerContext<PaymentUnitOfWork>;

export interface Outcome {
  orderId: string;
  amount: number;
  currency: string;
  chargeId: string | null;
  status: 'captured' | 'pending' | 'failed';
  reason?: string;
  /** Who learnt it; recorded only if this creates the row. */
  source: PaymentRow['source'];
}

/** The order's payment row, created `pending` the first time anything is learnt about it. */
function rowFor(ctx: PaymentContext, o: Pick<Outcome, 'orderId' | 'amount' | 'currency'>, source: PaymentRow['source']): PaymentRow {
  return (
    ctx.uow.payment(o.orderId) ??
    ctx.uow.create({
      orderId: o.orderId,
      idempotencyKey: payments.paymentKey(o.orderId),
      amount: o.amount,
      currency: o.currency,
      status: 'pending',
      providerRef: null,
      failureReason: null,
      refundRef: null,
      source,
    })
  );
}

/**
 * Applies what the provider said about the charge, from whichever path learnt it first (the
 * charge call or a webhook). Only the move out of `pending` emits, so the order hears
 * PaymentCaptured or PaymentFailed at most once per order whatever arrives twice.
 * One exception: a capture reported after a failure is the provider's last word on the
 * money, so it is applied (and the order saga refunds it).
 */
export function settleCharge(ctx: PaymentContext, o: Outcome): void {
  const row = rowFor(ctx, o, o.source);
  const from = row.status;
  if (o.status === 'pending' || from === o.status || from === 'captured' || from === 'refunded') {
    if (from !== o.status && o.status !== 'pending') ctx.log.warn({ orderId: o.orderId, recorded: from, reported: o.status }, 'provider outcome contradicts the recorded payment; keeping the recorded one');
    if (o.status === 'pending' && row.providerRef === null && o.chargeId) {
      row.providerRef = o.chargeId;
      ctx.uow.touch(row);
    }
    return;
  }
  if (from === 'failed') ctx.log.warn({ orderId: o.orderId }, 'capture reported after a failure; the capture wins');
  if (o.amount !== row.amount) ctx.log.warn({ orderId: o.orderId, requested: row.amount, reported: o.amount }, 'provider amount differs from the requested amount');
  row.status = o.status;
  row.providerRef = o.chargeId ?? row.providerRef;
  row.failureReason = o.status === 'failed' ? (o.reason ?? 'declined') : null;
  ctx.uow.touch(row);
  if (o.status === 'captured') {
    ctx.emit('PaymentCaptured', { orderId: o.orderId, amount: o.amount, currency: o.currency, providerRef: row.providerRef! });
  } else {
    ctx.emit('PaymentFailed', { orderId: o.orderId, reason: row.failureReason ?? 'declined' });
  }
}

/** captured → refunded, emitting PaymentRefunded once per order whichever path reports it. */
export function settleRefund(ctx: PaymentContext, r: { orderId: string; amount: number; currency: string; chargeId: string; refundId: string }): void {
  const row = rowFor(ctx, r, 'refund');
  if (row.status === 'refunded') return;
  if (row.status !== 'captured') ctx.log.warn({ orderId: r.orderId, status: row.status }, 'refund reported for a payment not recorded as captured; recording it');
  row.status = 'refunded';
  row.providerRef ??= r.chargeId;
  row.refundRef = r.refundId;
  ctx.uow.touch(row);
  ctx.emit('PaymentRefunded', { orderId: r.orderId, amount: r.amount, currency: r.currency, providerRef: r.refundId });
}
