import { eventually, workerMetric } from '../support';
import { Saga } from './harness';

/**
 * Asynchronous captures whose webhook never comes: payment-worker's pending sweep asks the
 * provider (ReconcilePayment, GET by idempotency key) and settles the payment as the webhook
 * would, so the order completes; a webhook arriving after that, or a charge the provider has
 * not decided yet, changes nothing and emits no second outcome.
 */
describe('payments: reconciling charges whose webhook never came', () => {
  let saga: Saga;
  beforeAll(async () => {
    saga = await Saga.start('reconcile', { payments: { PENDING_SWEEP_MS: 200, PENDING_RECONCILE_AFTER_MS: 1000 } });
    await saga.stockUp(10);
    // Every capture is asynchronous and told by nothing: the simulator sends no webhook itself.
    saga.sim.configure({ asyncCaptureOrders: ['*'], asyncCaptureDelayMs: 600_000, webhooks: { enabled: false, duplicates: 1, delayMs: 0 } });
  });
  afterAll(async () => saga?.stop());

  const payment = async (orderId: string) =>
    (await saga.env.query<{ status: string }>('SELECT status FROM payments.payment WHERE order_id = $1', [orderId]))[0]?.status;
  const lookups = async (orderId: string) =>
    (await saga.env.query<{ n: string }>(`SELECT count(*) AS n FROM payments.inbox WHERE type = 'ReconcilePayment' AND partition_key = $1`, [orderId]))[0]!.n;

  it('settles a capture and a decline the provider decided without telling anyone', async () => {
    await saga.placeOrder('rc-captured');
    await saga.placeOrder('rc-declined');
    await eventually(async () => {
      expect(await payment('rc-captured')).toBe('pending');
      expect(await payment('rc-declined')).toBe('pending');
    });
    saga.sim.completeCharge('rc-captured', 'captured');
    saga.sim.completeCharge('rc-declined', 'failed');

    await saga.waitForStatus('rc-captured', 'CONFIRMED');
    await saga.waitForStatus('rc-declined', 'REJECTED');
    await saga.assertConsistent(['rc-captured', 'rc-declined']);
    expect(await payment('rc-captured')).toBe('captured');
    expect(await payment('rc-declined')).toBe('failed');
    expect(saga.eventsFor('PaymentCaptured', 'rc-captured')).toHaveLength(1);
    expect(saga.eventsFor('PaymentFailed', 'rc-declined')).toHaveLength(1);
    expect(Number(await lookups('rc-captured'))).toBeGreaterThanOrEqual(1);
    expect(await workerMetric(saga.payments!, 'stockflow_payment_reconciliations_total')).toBeGreaterThanOrEqual(2);
  });

  it('leaves an undecided charge pending, and its late webhook settles it once', async () => {
    await saga.placeOrder('rc-undecided');
    await eventually(async () => expect(await payment('rc-undecided')).toBe('pending'));
    // Asked at least twice (first lookup, then after its backoff), still undecided: no outcome.
    await eventually(async () => expect(Number(await lookups('rc-undecided'))).toBeGreaterThanOrEqual(2), 30_000);
    expect(await payment('rc-undecided')).toBe('pending');
    expect(saga.eventsFor('PaymentCaptured', 'rc-undecided')).toHaveLength(0);

    saga.sim.completeCharge('rc-undecided', 'captured');
    await saga.sim.sendWebhook('rc-undecided', { copies: 1, delayMs: 0 });
    await saga.waitForStatus('rc-undecided', 'CONFIRMED');
    // The sweep may look it up once more meanwhile; the order still hears one capture.
    await new Promise((r) => setTimeout(r, 1500));
    await saga.assertConsistent(['rc-undecided']);
    expect(saga.eventsFor('PaymentCaptured', 'rc-undecided')).toHaveLength(1);
  });
});
