import type { Handler } from '@stockflow/shared';
import type { ChargeResult, ProviderClient } from '../provider/provider-client';
import { settleCharge } from '../payment-state';
import type { PaymentUnitOfWork } from '../unit-of-work';

/**
 * Charges the order at the provider. The HTTP call happens in prepare(), outside the
 * transaction, with Idempotency-Key order-{orderId}-payment: a redelivery, a duplicate
 * RequestPayment or a retry after a timeout gets the same charge back, never a second one.
 * handle() then records the answer and emits the outcome once (payment-state.ts).
 */
export function requestPayment(provider: ProviderClient): Handler<PaymentUnitOfWork, 'RequestPayment'> {
  return {
    type: 'RequestPayment',
    declare: (uow, p) => uow.needPayment(p.orderId),
    prepare: (p, ctx) => provider.charge({ orderId: p.orderId, amount: p.amount, currency: p.currency }, ctx.signal, ctx.log),
    async handle(ctx, p) {
      const charge = ctx.item.prepared as ChargeResult | undefined;
      // The pipeline runs prepare() for every message it has not committed; reaching here
      // without its result would mean charging from inside the transaction.
      if (!charge) throw new Error(`RequestPayment ${ctx.envelope.messageId} reached handle() without a provider answer`);
      settleCharge(ctx, { orderId: p.orderId, amount: charge.amount, currency: charge.currency, chargeId: charge.chargeId, status: charge.status, reason: charge.reason, source: 'request' });
    },
  };
}
