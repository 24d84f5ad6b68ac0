import { HEADER, payments, PermanentMessageError, type Handler } from '@stockflow/shared';
import type { ChargeResult, ProviderClient, RefundResult } from '../provider/provider-client';
import { verifyWebhook } from '../provider/webhook-signature';
import { settleCharge, settleRefund } from '../payment-state';
import type { PaymentUnitOfWork } from '../unit-of-work';

/** What the provider's API says about the webhook's subject (null: it knows nothing of it). */
type Truth = { kind: 'charge'; charge: ChargeResult | null } | { kind: 'refund'; refund: Extract<RefundResult, { status: 'succeeded' }> | null } | { kind: 'foreign' };

/**
 * A provider webhook, as the gateway forwarded it. The gateway refused anything unsigned,
 * forged or stale; the HMAC is checked once more as the message is decoded (check()), since
 * anyone who can publish to the broker could send one: a forged one is dead-lettered
 * (bad_signature) before it costs a transaction. The timestamp is not checked again (the
 * message may have waited in its queue longer than the tolerance).
 *
 * A webhook is news that something changed, not the record of what: prepare() asks the
 * provider's API (by idempotency key) for the charge or refund it is about, and handle()
 * applies that answer. So a webhook signed with a leaked secret cannot make a charge captured,
 * change its amount or invent a refund, and a decline reported after a capture (or the other
 * way round) is settled by what the provider holds now. It is deduplicated by the provider's
 * event id (the webhook_event table, independent of the transport's message id) and applied
 * through the same state transitions as the charge call, so the two paths together still emit
 * each outcome once per order.
 */
export function providerWebhook(opts: { secret: string; provider: ProviderClient }): Handler<PaymentUnitOfWork, 'ProviderWebhook'> {
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
    async prepare(p, ctx): Promise<Truth> {
      const orderId = p.data.orderId;
      if (p.type === 'refund.succeeded') return { kind: 'refund', refund: (await opts.provider.lookupRefund(orderId, ctx.signal)) ?? null };
      if (p.data.idempotencyKey !== payments.paymentKey(orderId)) return { kind: 'foreign' };
      return { kind: 'charge', charge: (await opts.provider.lookupCharge(orderId, ctx.signal)) ?? null };
    },
    async handle(ctx, p) {
      if (ctx.uow.webhookSeen(p.id)) {
        ctx.log.info({ eventId: p.id }, 'webhook event seen before; no change');
        return;
      }
      ctx.uow.recordWebhook({ eventId: p.id, type: p.type, orderId: p.data.orderId, messageId: ctx.envelope.messageId });
      const truth = ctx.item.prepared as Truth | undefined;
      if (!truth) throw new Error(`ProviderWebhook ${ctx.envelope.messageId} reached handle() without the provider's answer`);
      const d = p.data;
      if (truth.kind === 'foreign') {
        ctx.log.warn({ eventId: p.id, key: d.idempotencyKey }, 'webhook for a charge we did not make (foreign idempotency key); recorded, not applied');
        return;
      }
      if (truth.kind === 'refund') {
        const r = truth.refund;
        if (!r || r.chargeId !== d.chargeId) {
          ctx.log.error({ eventId: p.id, orderId: d.orderId, webhookCharge: d.chargeId, providerRefund: r }, 'refund.succeeded the provider does not confirm for this charge; recorded, not applied');
          return;
        }
        settleRefund(ctx, { orderId: d.orderId, amount: r.amount, currency: r.currency, chargeId: r.chargeId, refundId: r.refundId });
        return;
      }
      const c = truth.charge;
      if (!c) {
        ctx.log.error({ eventId: p.id, orderId: d.orderId, type: p.type }, 'webhook about a charge the provider does not know; recorded, not applied');
        return;
      }
      const claimed = p.type === 'payment.captured' ? 'captured' : 'failed';
      if (c.status !== claimed || c.amount !== d.amount || c.currency !== d.currency || c.chargeId !== d.chargeId) {
        ctx.log.warn({ eventId: p.id, orderId: d.orderId, webhook: { type: p.type, amount: d.amount, currency: d.currency, chargeId: d.chargeId }, provider: c }, 'webhook differs from what the provider holds now; applying the provider\'s answer');
      }
      settleCharge(ctx, { orderId: d.orderId, amount: c.amount, currency: c.currency, chargeId: c.chargeId, status: c.status, reason: c.reason, source: 'webhook' });
    },
  };
}
