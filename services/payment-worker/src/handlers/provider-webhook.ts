import { HEADER, payments, PermanentMessageError, type Handler } from '@stockflow/shared';
import { verifyWebhook } from '../provider/webhook-signature';
import { settleCharge, settleRefund } from '../payment-state';
import type { PaymentUnitOfWork } from '../unit-of-work';

/**
 * A provider webhook, as the gateway forwarded it. The signature is checked first, over the
 * raw bytes: a forged or tampered webhook is dead-lettered (bad_signature) and has no effect.
 * Then it is deduplicated by the provider's event id (the webhook_event table, independent of
 * the transport's message id) and applied through the same state transitions as the charge
 * call, so the two paths together still emit each outcome once per order.
 */
export function providerWebhook(opts: { secret: string }): Handler<PaymentUnitOfWork, 'ProviderWebhook'> {
  return {
    type: 'ProviderWebhook',
    declare: (uow, p) => {
      uow.needPayment(p.data.orderId);
      uow.needWebhookEvent(p.id);
    },
    async handle(ctx, p) {
      if (!verifyWebhook(opts.secret, ctx.item.raw, ctx.item.headers[HEADER.signature])) {
        throw new PermanentMessageError('bad_signature', `webhook ${p.id}: x-signature does not match the body`);
      }
      if (ctx.uow.webhookSeen(p.id)) {
        ctx.log.info({ eventId: p.id }, 'webhook event seen before; no change');
        return;
      }
      ctx.uow.recordWebhook({ eventId: p.id, type: p.type, orderId: p.data.orderId, messageId: ctx.envelope.messageId });
      const d = p.data;
      if (p.type === 'refund.succeeded') {
        settleRefund(ctx, { orderId: d.orderId, amount: d.amount, currency: d.currency, chargeId: d.chargeId, refundId: d.refundId ?? p.id });
        return;
      }
      if (d.idempotencyKey !== payments.paymentKey(d.orderId)) {
        ctx.log.warn({ eventId: p.id, key: d.idempotencyKey }, 'webhook for a charge we did not make (foreign idempotency key); recorded, not applied');
        return;
      }
      settleCharge(ctx, {
        orderId: d.orderId,
        amount: d.amount,
        currency: d.currency,
        chargeId: d.chargeId,
        status: p.type === 'payment.captured' ? 'captured' : 'failed',
        reason: d.reason,
        source: 'webhook',
      });
    },
  };
}
