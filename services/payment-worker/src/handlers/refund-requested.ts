import type { Handler } from '@stockflow/shared';
import type { ProviderClient, RefundResult } from '../provider/provider-client';
import { settleRefund } from '../payment-state';
import type { PaymentUnitOfWork } from '../unit-of-work';

/**
 * Gives the money of an order that will not be confirmed back, with Idempotency-Key
 * order-{orderId}-refund (one refund per order, however often this is repeated). The call is
 * in prepare(), outside the transaction, like the charge.
 */
export function refundRequested(provider: ProviderClient): Handler<PaymentUnitOfWork, 'RefundRequested'> {
  return {
    type: 'RefundRequested',
    declare: (uow, p) => uow.needPayment(p.orderId),
    prepare: (p, ctx) => provider.refund({ orderId: p.orderId, amount: p.amount, currency: p.currency }, ctx.signal, ctx.log),
    async handle(ctx, p) {
      const refund = ctx.item.prepared as RefundResult | undefined;
      if (!refund) throw new Error(`RefundRequested ${ctx.envelope.messageId} reached handle() without a provider answer`);
      if (refund.status !== 'succeeded') {
        ctx.log.error({ orderId: p.orderId, reason: refund.reason }, 'refund refused by the provider: nothing to refund');
        return;
      }
      settleRefund(ctx, { orderId: p.orderId, amount: refund.amount, currency: refund.currency, chargeId: refund.chargeId, refundId: refund.refundId });
    },
  };
}
