import type { Handler, PrepareContext } from '@stockflow/shared';
import { ProviderAnswerError, type ChargeResult, type ProviderClient, type RefundIds } from '../provider/provider-client';
import { settleCharge, settleUnusable } from '../payment-state';
import type { PaymentUnitOfWork } from '../unit-of-work';

/**
 * What prepare() learnt: the charge; that its answer cannot be recorded (and what was given
 * back); or nothing definite while the provider stayed unreachable past the retry budget.
 */
export type Charged = { kind: 'charge'; charge: ChargeResult } | { kind: 'unusable'; detail: string; refund: RefundIds } | { kind: 'unknown'; detail: string };

/**
 * Charges the order at the provider. The HTTP call happens in prepare(), outside the
 * transaction, with Idempotency-Key order-{orderId}-payment: a redelivery, a duplicate
 * RequestPayment or a retry after a timeout gets the same charge back, never a second one.
 * handle() then records the answer and emits the outcome once (payment-state.ts).
 *
 * Money is never assumed: an answer that cannot be recorded as it is (ProviderAnswerError) is
 * looked up once more by key, and if that answer is no better, whatever the charge holds is
 * refunded before the order hears PaymentFailed. If the transaction that records a charge
 * fails for good, compensate() refunds it before the message is dead-lettered. A provider that
 * stays unreachable past the retry budget does not hold the partition forever: the payment is
 * recorded `pending` with no charge reference (outcome unknown), the order waits, and the
 * pending sweep asks the provider about it later (ReconcilePayment), as for a lost webhook.
 */
export function requestPayment(provider: ProviderClient): Handler<PaymentUnitOfWork, 'RequestPayment'> {
  return {
    type: 'RequestPayment',
    declare: (uow, p) => uow.needPayment(p.orderId),
    async prepare(p, ctx): Promise<Charged> {
      try {
        return { kind: 'charge', charge: await provider.charge({ orderId: p.orderId, amount: p.amount, currency: p.currency }, ctx.signal, ctx.log) };
      } catch (err) {
        if (!(err instanceof ProviderAnswerError)) throw err;
        return unusable(provider, p.orderId, err, ctx);
      }
    },
    async handle(ctx, p) {
      const prepared = ctx.item.prepared as Charged | undefined;
      // The pipeline runs prepare() for every message it has not committed; reaching here
      // without its result would mean charging from inside the transaction.
      if (!prepared) throw new Error(`RequestPayment ${ctx.envelope.messageId} reached handle() without a provider answer`);
      if (prepared.kind === 'unknown') {
        ctx.log.warn({ orderId: p.orderId, detail: prepared.detail }, 'charge outcome unknown (provider unreachable); recorded pending for the sweep');
        settleCharge(ctx, { orderId: p.orderId, amount: p.amount, currency: p.currency, chargeId: null, status: 'pending', source: 'request' });
        return;
      }
      if (prepared.kind === 'unusable') {
        const r = prepared.refund;
        settleUnusable(ctx, { orderId: p.orderId, amount: p.amount, currency: p.currency, detail: prepared.detail, refundId: r.status === 'succeeded' ? r.refundId : null, refundedCharge: r.status === 'succeeded' ? r.chargeId : null });
        return;
      }
      const c = prepared.charge;
      settleCharge(ctx, { orderId: p.orderId, amount: c.amount, currency: c.currency, chargeId: c.chargeId, status: c.status, reason: c.reason, source: 'request' });
    },
    exhausted: (_p, _ctx, err): Charged => ({ kind: 'unknown', detail: (err as Error).message.slice(0, 200) }),
    async compensate(p, ctx, prepared) {
      const charged = prepared as Charged;
      if (charged.kind !== 'charge' || charged.charge.chargeId === null || charged.charge.status === 'failed') return 'nothing to give back';
      const c = charged.charge;
      const refund = await provider.refund({ orderId: p.orderId, amount: c.amount, currency: c.currency }, ctx.signal, ctx.log);
      return refund.status === 'succeeded' ? `refunded ${refund.amount} ${refund.currency} (${refund.refundId})` : `nothing to refund: ${refund.reason}`;
    },
  };
}

/** The charge answer was unusable: one look-up by key, and if that is no better, refund it all. */
async function unusable(provider: ProviderClient, orderId: string, err: ProviderAnswerError, ctx: PrepareContext): Promise<Charged> {
  ctx.log.error({ orderId, detail: err.detail }, 'charge answer cannot be recorded; looking it up');
  try {
    const found = await provider.lookupCharge(orderId, ctx.signal);
    if (found) return { kind: 'charge', charge: found };
  } catch (again) {
    if (!(again instanceof ProviderAnswerError)) throw again;
  }
  const refund = await provider.refundAll(orderId, ctx.signal, ctx.log);
  ctx.log.error({ orderId, refund }, 'charge answer cannot be recorded; whatever it held was given back');
  return { kind: 'unusable', detail: err.detail, refund };
}
