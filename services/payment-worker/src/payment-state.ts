import { payments, traceParentOf, type HandlerContext } from '@stockflow/shared';
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
    }, traceParentOf(ctx.item.span))
  );
}

/**
 * Applies what the provider said about the charge, from whichever path learnt it first (the
 * charge call, or a webhook's look-up of the charge). Only the move out of `pending` emits, so
 * the order hears PaymentCaptured or PaymentFailed at most once per order whatever arrives
 * twice. One exception: a capture reported after a failure is the provider's last word on the
 * money, so it is applied (and the order saga refunds it). PaymentCaptured carries the amount
 * and currency the provider stated, not the ones asked for: whether they are the order's is
 * the order saga's decision, the one place that confirms.
 */
export function settleCharge(ctx: PaymentContext, o: Outcome): void {
  const row = rowFor(ctx, o, o.source);
  const from = row.status;
  if (o.status === 'pending' || from === o.status || from === 'captured' || from === 'refunded') {
    if (from !== o.status && o.status !== 'pending') ctx.log.error({ orderId: o.orderId, recorded: from, reported: o.status }, 'the provider now contradicts the recorded payment; keeping the recorded one (needs a look)');
    if (o.status === 'pending' && row.providerRef === null && o.chargeId) {
      row.providerRef = o.chargeId;
      ctx.uow.touch(row);
    }
    return;
  }
  if (from === 'failed') ctx.log.warn({ orderId: o.orderId }, 'capture reported after a failure; the capture wins');
  row.status = o.status;
  row.providerRef = o.chargeId ?? row.providerRef;
  row.failureReason = o.status === 'failed' ? (o.reason ?? 'declined') : null;
  if (o.status === 'captured') {
    row.amount = o.amount;
    row.currency = o.currency;
  }
  ctx.uow.touch(row);
  if (o.status === 'captured') {
    ctx.emit('PaymentCaptured', { orderId: o.orderId, amount: o.amount, currency: o.currency, providerRef: row.providerRef! });
  } else {
    ctx.emit('PaymentFailed', { orderId: o.orderId, reason: row.failureReason ?? 'declined' });
  }
}

/**
 * captured → refunded, emitting PaymentRefunded once per order whichever path reports it. Only
 * a refund of the recorded charge counts: one that names another charge, or a payment never
 * recorded as captured (a failed one, or none), changes nothing and is logged.
 */
export function settleRefund(ctx: PaymentContext, r: { orderId: string; amount: number; currency: string; chargeId: string; refundId: string }): void {
  const row = ctx.uow.payment(r.orderId);
  if (row?.status === 'refunded') return;
  if (!row || row.status !== 'captured' || (row.providerRef !== null && row.providerRef !== r.chargeId)) {
    ctx.log.error({ orderId: r.orderId, status: row?.status ?? 'none', recordedCharge: row?.providerRef, refundedCharge: r.chargeId }, 'refund of a charge not recorded as captured; not applied (needs a look)');
    return;
  }
  row.status = 'refunded';
  row.providerRef ??= r.chargeId;
  row.refundRef = r.refundId;
  ctx.uow.touch(row);
  ctx.emit('PaymentRefunded', { orderId: r.orderId, amount: r.amount, currency: r.currency, providerRef: r.refundId });
}

/**
 * The provider's answer about the charge could not be recorded (ProviderAnswerError), and
 * prepare() has already given back whatever the charge held. The order hears PaymentFailed
 * (its stock goes back). A payment recorded as captured by then (a webhook's look-up got a
 * usable answer) was refunded by that same call, so it is settled as a refund.
 */
export function settleUnusable(ctx: PaymentContext, u: { orderId: string; amount: number; currency: string; detail: string; refundId: string | null; refundedCharge: string | null }): void {
  const row = rowFor(ctx, u, 'request');
  if (row.status === 'captured' && u.refundId && u.refundedCharge) {
    settleRefund(ctx, { orderId: u.orderId, amount: row.amount, currency: row.currency, chargeId: u.refundedCharge, refundId: u.refundId });
    return;
  }
  if (row.status !== 'pending') {
    ctx.log.error({ orderId: u.orderId, status: row.status, detail: u.detail }, 'unusable provider answer for a payment already settled; keeping the recorded one (needs a look)');
    return;
  }
  row.status = 'failed';
  row.failureReason = `invalid_provider_answer: ${u.detail}`.slice(0, 200);
  row.refundRef = u.refundId;
  ctx.uow.touch(row);
  ctx.emit('PaymentFailed', { orderId: u.orderId, reason: row.failureReason });
}
