import type { Handler } from '@stockflow/shared';
import type { ChargeResult, ProviderClient } from '../provider/provider-client';
import { settleCharge } from '../payment-state';
import type { PaymentUnitOfWork } from '../unit-of-work';

/**
 * A charge the provider answered `pending` is otherwise settled only by its webhook, and a
 * webhook can be lost for good (the provider gave up while no gateway answered). The pending
 * sweep sends this for such a charge: prepare() asks the provider (GET by idempotency key,
 * outside the transaction) and handle() settles the locked row the way the webhook would, so
 * whichever of the two comes first emits the outcome and the other changes nothing.
 */
export function reconcilePayment(provider: ProviderClient): Handler<PaymentUnitOfWork, 'ReconcilePayment'> {
  return {
    type: 'ReconcilePayment',
    declare: (uow, p) => uow.needPayment(p.orderId),
    prepare: async (p, ctx) => (await provider.lookupCharge(p.orderId, ctx.signal)) ?? null,
    async handle(ctx, p) {
      const row = ctx.uow.payment(p.orderId);
      if (!row || row.status !== 'pending') return;
      const charge = ctx.item.prepared as ChargeResult | null | undefined;
      if (charge === undefined) throw new Error(`ReconcilePayment ${ctx.envelope.messageId} reached handle() without the provider's answer`);
      if (charge === null) {
        if (row.providerRef === null) {
          // Recorded while the provider was unreachable and still unknown to it long after: the
          // charge never reached it. Failing it releases the order's stock now; should the
          // request still turn up and be captured, the capture wins and the saga refunds it.
          ctx.log.warn({ orderId: p.orderId }, 'charge of unknown outcome never reached the provider; failing it');
          settleCharge(ctx, { orderId: p.orderId, amount: row.amount, currency: row.currency, chargeId: null, status: 'failed', reason: 'charge_never_reached_provider', source: row.source });
          return;
        }
        ctx.log.warn({ orderId: p.orderId }, 'pending payment unknown to the provider; left pending');
        return;
      }
      if (charge.status === 'pending') return;
      ctx.log.info({ orderId: p.orderId, status: charge.status }, 'pending payment settled by lookup (its webhook never came)');
      settleCharge(ctx, { orderId: p.orderId, amount: charge.amount, currency: charge.currency, chargeId: charge.chargeId, status: charge.status, reason: charge.reason, source: row.source });
    },
  };
}
