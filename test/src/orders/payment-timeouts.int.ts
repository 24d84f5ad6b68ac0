import { PRICE, Saga } from './harness';

/**
 * The charge call times out (with and without the provider having
 * charged) and RequestPayment arrives more than once. The provider's ledger must show one
 * charge per order, however many requests it saw.
 */
describe('payments: timeouts, retries and duplicate requests', () => {
  let saga: Saga;
  beforeAll(async () => {
    // Short client timeout so the provider's hang (30 s) is a timeout; 3 attempts per round
    // so one order also exercises the pipeline's own retry of the whole prepare step.
    saga = await Saga.start('pay-timeouts', { payments: { PROVIDER_TIMEOUT_MS: 400, PROVIDER_MAX_ATTEMPTS: 3 } });
    await saga.stockUp(10);
  });
  afterAll(async () => saga?.stop());

  it('payment request duplicated and retried after a provider timeout: one charge at the provider', async () => {
    // charged-then-timeout: the outcome is unknown and must be found by idempotency key.
    saga.sim.timeOut('to-unknown', 1, 'after-charge');
    // lost requests: the lookup finds nothing, the same key is POSTed again.
    saga.sim.timeOut('to-lost', 2, 'before-charge');
    // more timeouts than one round of attempts: the pipeline retries the message itself.
    saga.sim.timeOut('to-outage', 4, 'before-charge');
    const orderIds = ['to-lost', 'to-outage', 'to-unknown'];
    await Promise.all(orderIds.map((id) => saga.placeOrder(id)));

    // While the saga's own charge call hangs, the same payment is requested again: twice with
    // one message id (a redelivery) and once with another (a duplicate upstream).
    await saga.waitForStatus('to-unknown', 'RESERVED');
    const dup = { orderId: 'to-unknown', amount: PRICE, currency: 'EUR' };
    await Promise.all([
      saga.pub.send('RequestPayment', dup, { messageId: 'dup-pay-1' }),
      saga.pub.send('RequestPayment', dup, { messageId: 'dup-pay-1' }),
      saga.pub.send('RequestPayment', dup, { messageId: 'dup-pay-2' }),
    ]);

    const rows = await saga.assertConsistent(orderIds);
    expect(rows.map((r) => r.status)).toEqual(['CONFIRMED', 'CONFIRMED', 'CONFIRMED']);

    const ledger = saga.sim.snapshot();
    for (const id of orderIds) {
      const charges = ledger.charges.filter((c) => c.orderId === id);
      expect(charges).toHaveLength(1);
      expect(charges[0]).toMatchObject({ idempotencyKey: `order-${id}-payment`, status: 'captured', amount: PRICE, refunded: 0 });
      expect(saga.eventsFor('PaymentCaptured', id)).toHaveLength(1);
    }
    // The unknown outcome was resolved by asking, and the duplicates got the same charge back.
    expect(saga.sim.chargeOf('to-unknown')!.requests).toBeGreaterThanOrEqual(2);
    expect(saga.sim.stats.chargeLookups).toBeGreaterThanOrEqual(3);
    expect(saga.sim.stats.chargePosts).toBeGreaterThanOrEqual(3 + 2 + 4);

    const payments = await saga.env.query<{ order_id: string; status: string; idempotency_key: string }>(
      'SELECT order_id, status, idempotency_key FROM payments.payment ORDER BY order_id',
    );
    expect(payments).toEqual(orderIds.map((id) => ({ order_id: id, status: 'captured', idempotency_key: `order-${id}-payment` })));
    const [inbox] = await saga.env.query<{ n: string }>(`SELECT count(*) AS n FROM payments.inbox WHERE message_id LIKE 'dup-pay-%'`);
    expect(Number(inbox!.n)).toBe(2);
  });

  it('a declined charge rejects the order and gives the stock back, without money moving', async () => {
    saga.sim.decline('declined-1');
    await saga.placeOrder('declined-1');
    const [row] = await saga.assertConsistent(['declined-1']);
    expect(row).toMatchObject({ status: 'REJECTED', reason: 'payment_failed', payment_status: 'failed', stock_status: 'released' });
    expect(saga.eventsFor('PaymentFailed', 'declined-1')).toHaveLength(1);
    expect(saga.eventsFor('OrderRejected', 'declined-1')[0]!.payload).toMatchObject({ reason: 'payment_failed' });
    expect(saga.sim.chargeOf('declined-1')).toMatchObject({ status: 'failed' });
    expect(await saga.stock()).toEqual({ on_hand: 7, reserved: 0 });
  });
});
