import { HEADER, payments, PermanentMessageError, type Handler } from '@stockflow/shared';
import { verifyWebhook } from '../provider/webhook-signature';
import { settleCharge, settleRefund } from '../payment-state';
import type { PaymentUnitOfWork } from '../unit-of-work';

/**
 * A provider webhook, as the gateway forwarded it. The gateway refused anything unsigned,
 * forged or stale; the HMAC is checked once more as the message is decoded (check()), since
 * anyone who can publish to the broker could send one: a forged one is dead-lettered
 * (bad_signature) before it costs a transaction. The timestamp is not checked again (the
 * message may have waited in its queue longer than the tolerance). Then it is deduplicated by the provider's event id (the webhook_event table, independent of
 * the transport's message id) and applied through the same state transitions as the charge
 * call, so the two paths together still emit each outcome once per order.
 */
export function providerWebhook(opts: { secret: string }): Handler<PaymentUnitOfWork, 'ProviderWebhook'> {
  return {
    type: 'ProviderWebhook',
    check(item) {
      const verdict = verifyWebhook(opts.secret, item.raw, item.headers[HEADER.signature], { nowS: 0, toleranceS: Infinity });
      if (!verdict.ok) throw new PermanentMessageError('bad_signature', `webhook ${item.envelope.messageId}: x-signature ${verdict.reason}`);
    },
    declare: (uow, p) => {
      uow.needPayment(p.data.orderId);
      uow.needWebhookEvent(p.id);
    },
    async handle(ctx, p) {
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
