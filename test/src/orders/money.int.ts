import type { WorkItem } from '@stockflow/shared';
import { ops } from '../ops/run-ops';
import { eventually } from '../support';
import { PRICE, Saga } from './harness';

/**
 * No order is confirmed without its full amount in its currency, whatever the provider answers
 * or a webhook claims, and no charge that cannot be recorded is forgotten. The provider
 * simulator plays the buggy or hostile PSP (another amount, another currency, a lowercase
 * currency, a refund on its own); a webhook signed with the real secret plays the leaked-secret
 * attacker. The provider's ledger is the witness of what money moved.
 */
describe('payments: money is never assumed', () => {
  let saga: Saga;
  /** RequestPayment of these orders fails inside its transaction, after the charge was made. */
  const unrecordable = new Set<string>();
  beforeAll(async () => {
    saga = await Saga.start('money', {
      paymentHooks: {
        beforeCommit(items: WorkItem[]) {
          if (items.some((i) => i.envelope.type === 'RequestPayment' && unrecordable.has((i.payload as { orderId: string }).orderId))) throw new Error('recording this charge fails (injected)');
        },
      },
    });
    await saga.stockUp(50);
  });
  afterAll(async () => saga?.stop());

  const payment = async (orderId: string) =>
    (await saga.env.query<{ status: string; amount: string; currency: string; failure_reason: string | null; refund_ref: string | null }>('SELECT status, amount, currency, failure_reason, refund_ref FROM payments.payment WHERE order_id = $1', [orderId]))[0];

  it('a capture of the amount minus one, or in another currency, rejects the order (payment_mismatch) and refunds what was taken', async () => {
    saga.sim.configure({ chargeOverrides: { 'mm-short': { amountDelta: -1 }, 'mm-usd': { currency: 'USD' } } });
    await saga.placeOrder('mm-short');
    await saga.placeOrder('mm-usd');
    const rows = await saga.assertConsistent(['mm-short', 'mm-usd']);
    expect(rows.map((r) => [r.id, r.status, r.reason, r.stock_status, r.refund_status])).toEqual([
      ['mm-short', 'REJECTED', 'payment_mismatch', 'released', 'refunded'],
      ['mm-usd', 'REJECTED', 'payment_mismatch', 'released', 'refunded'],
    ]);
    const ledger = saga.sim.snapshot();
    expect(ledger.refunds.filter((r) => r.orderId === 'mm-short').map((r) => [r.amount, r.currency])).toEqual([[PRICE - 1, 'EUR']]);
    expect(ledger.refunds.filter((r) => r.orderId === 'mm-usd').map((r) => [r.amount, r.currency])).toEqual([[PRICE, 'USD']]);
    const rejected = saga.eventsFor('OrderRejected', 'mm-short')[0]!.payload as { reason: string; detail: { expected: unknown; captured: unknown } };
    expect(rejected).toMatchObject({ reason: 'payment_mismatch', detail: { expected: { amount: PRICE, currency: 'EUR' }, captured: { amount: PRICE - 1, currency: 'EUR' } } });
    expect(saga.eventsFor('OrderConfirmed', 'mm-short')).toHaveLength(0);
    expect(saga.eventsFor('OrderConfirmed', 'mm-usd')).toHaveLength(0);
    expect(await saga.stock()).toMatchObject({ reserved: 0 });
  });

  it('an answer that cannot be recorded (lowercase currency) is refunded and the order rejected, never dead-lettered with the money kept', async () => {
    saga.sim.configure({ chargeOverrides: { 'mm-lower': { currency: 'usd' } } });
    await saga.placeOrder('mm-lower');
    const [row] = await saga.assertConsistent(['mm-lower']);
    expect(row).toMatchObject({ status: 'REJECTED', reason: 'payment_failed', stock_status: 'released' });
    expect(await payment('mm-lower')).toMatchObject({ status: 'failed', failure_reason: expect.stringMatching(/^invalid_provider_answer: .*currency "usd"/), refund_ref: expect.stringMatching(/^re_/) });
    expect(saga.sim.snapshot().refunds.filter((r) => r.orderId === 'mm-lower')).toHaveLength(1);
    expect(saga.sim.netCharged('mm-lower')).toBe(0);
    expect(await saga.env.peekDeadQueues('payments')).toEqual([]);
  });

  it('a charge whose recording fails for good is refunded before its message is dead-lettered', async () => {
    unrecordable.add('mm-unrecorded');
    await saga.placeOrder('mm-unrecorded', { ttlMs: 4000 });
    const dead = await eventually(async () => {
      const d = (await saga.env.peekDeadQueues('payments')).filter((m) => m.type === 'RequestPayment');
      expect(d).toHaveLength(1);
      return d[0]!;
    }, 30_000);
    expect(dead.headers).toMatchObject({ 'x-stockflow-reason': 'handler_error', 'x-stockflow-compensation': expect.stringMatching(/^refunded 1250 EUR \(re_/) });
    await saga.waitForStatus('mm-unrecorded', 'EXPIRED');
    expect(saga.sim.chargeOf('mm-unrecorded')).toMatchObject({ status: 'captured', refunded: PRICE });
    expect(saga.sim.netCharged('mm-unrecorded')).toBe(0);
    // The operator fixes the bug and replays: the same charge and the same refund come back
    // (idempotency keys), and the order's books close with nothing kept.
    unrecordable.delete('mm-unrecorded');
    expect(await ops(saga.env, ['dlq', 'replay', 'payments', '--id', dead.messageId!])).toMatchObject({ code: 0 });
    const [row] = await saga.assertConsistent(['mm-unrecorded']);
    expect(row).toMatchObject({ status: 'EXPIRED', payment_status: 'captured', refund_status: 'refunded' });
    expect(saga.sim.snapshot().refunds.filter((r) => r.orderId === 'mm-unrecorded')).toHaveLength(1);
  });

  it('a capture webhook signed with the real secret cannot confirm an order the provider declined', async () => {
    // The attacker knows the secret and is faster than the provider's own (asynchronous) decline.
    saga.sim.configure({ asyncCaptureOrders: ['mm-leak'], asyncCaptureDelayMs: 600_000 });
    saga.sim.decline('mm-leak');
    await saga.placeOrder('mm-leak');
    await eventually(async () => expect(await payment('mm-leak')).toMatchObject({ status: 'pending' }));
    const charge = saga.sim.chargeOf('mm-leak')!;
    const statuses = await saga.sim.deliver({ id: 'evt_leaked', type: 'payment.captured', createdAt: new Date().toISOString(), data: { idempotencyKey: charge.idempotencyKey, orderId: 'mm-leak', chargeId: charge.id, amount: PRICE, currency: 'EUR' } });
    expect(statuses).toEqual([202]);
    await eventually(async () => expect(await saga.env.query(`SELECT 1 FROM payments.webhook_event WHERE event_id = 'evt_leaked'`)).toHaveLength(1));
    expect(await payment('mm-leak')).toMatchObject({ status: 'pending' });
    // Then the real decline: the order is rejected, as the provider's books say.
    saga.sim.completeCharge('mm-leak', 'failed');
    await saga.sim.sendWebhook('mm-leak');
    const [row] = await saga.assertConsistent(['mm-leak']);
    expect(row).toMatchObject({ status: 'REJECTED', reason: 'payment_failed' });
    expect(saga.eventsFor('PaymentCaptured', 'mm-leak')).toHaveLength(0);
  });

  it('a decline reported after a capture changes nothing the provider does not say', async () => {
    await saga.placeOrder('mm-late-decline');
    await saga.waitForStatus('mm-late-decline', 'CONFIRMED');
    const charge = saga.sim.chargeOf('mm-late-decline')!;
    const statuses = await saga.sim.deliver({ id: 'evt_late_decline', type: 'payment.failed', createdAt: new Date().toISOString(), data: { idempotencyKey: charge.idempotencyKey, orderId: 'mm-late-decline', chargeId: charge.id, amount: PRICE, currency: 'EUR', reason: 'card_declined' } });
    expect(statuses).toEqual([202]);
    await eventually(async () => expect(await saga.env.query(`SELECT 1 FROM payments.webhook_event WHERE event_id = 'evt_late_decline'`)).toHaveLength(1));
    const [row] = await saga.assertConsistent(['mm-late-decline']);
    expect(row!.status).toBe('CONFIRMED');
    expect(await payment('mm-late-decline')).toMatchObject({ status: 'captured' });
    expect(saga.eventsFor('PaymentFailed', 'mm-late-decline')).toHaveLength(0);
  });

  it('refund.succeeded for a refund the provider never made, or of a failed payment, changes nothing', async () => {
    saga.sim.decline('mm-failed');
    await saga.placeOrder('mm-failed');
    await saga.waitForStatus('mm-failed', 'REJECTED');
    const charge = saga.sim.chargeOf('mm-failed')!;
    const statuses = await saga.sim.deliver({ id: 'evt_fake_refund', type: 'refund.succeeded', createdAt: new Date().toISOString(), data: { idempotencyKey: 'order-mm-failed-refund', orderId: 'mm-failed', chargeId: charge.id, amount: PRICE, currency: 'EUR', refundId: 're_made_up' } });
    expect(statuses).toEqual([202]);
    await eventually(async () => expect(await saga.env.query(`SELECT 1 FROM payments.webhook_event WHERE event_id = 'evt_fake_refund'`)).toHaveLength(1));
    expect(await payment('mm-failed')).toMatchObject({ status: 'failed', refund_ref: null });
    expect(saga.eventsFor('PaymentRefunded', 'mm-failed')).toHaveLength(0);
  });

  it('a confirmed order refunded by the provider on its own is recorded and announced for review', async () => {
    await saga.placeOrder('mm-disputed');
    await saga.waitForStatus('mm-disputed', 'CONFIRMED');
    saga.sim.refundOnItsOwn('mm-disputed');
    await saga.sim.sendWebhook('mm-disputed', { type: 'refund.succeeded' });
    await saga.tap.waitFor((events) => events.some((e) => e.type === 'OrderReviewRequired' && e.payload.orderId === 'mm-disputed'));
    expect(saga.eventsFor('OrderReviewRequired', 'mm-disputed').map((e) => e.payload)).toEqual([
      { orderId: 'mm-disputed', status: 'CONFIRMED', reason: 'refunded_after_confirmation', detail: { refunded: PRICE, currency: 'EUR', refundRef: expect.stringMatching(/^re_/) } },
    ]);
    expect(await payment('mm-disputed')).toMatchObject({ status: 'refunded' });
    expect((await saga.order('mm-disputed'))!.refund_status).toBe('refunded');
  });
});
