import { eventually } from '../support';
import { ChildWorker } from './child-worker';
import { paymentEnv, PRICE, Saga } from './harness';

const CRASH = { STOCKFLOW_ALLOW_SABOTAGE: 'i-know-this-breaks-things' };

/**
 * A worker process SIGKILLed after COMMIT and before the ack
 * (STOCKFLOW_TEST_EXIT_AFTER_COMMIT). The broker redelivers the message to the restarted
 * worker; the inbox must make that redelivery a no-op: no second charge at the provider, no
 * second outcome event, no second stock commit.
 */
describe('crash between commit and ack', () => {
  let saga: Saga;
  const children: ChildWorker[] = [];
  beforeAll(async () => {
    saga = await Saga.start('crash', { workers: { orders: false, payments: false } });
  });
  afterAll(async () => {
    await Promise.allSettled(children.map((c) => c.stop()));
    await saga?.stop();
  });

  function start(name: 'order-worker' | 'payment-worker', env: Record<string, string | number>): ChildWorker {
    const child = ChildWorker.start(name, saga.env.env({ HTTP_PORT: 0, INSTANCE_ID: `${name}-${children.length}`, ...env }), saga.env.namespace);
    children.push(child);
    return child;
  }

  it('a worker SIGKILLed between commit and ack: no double effect', async () => {
    await saga.stockUp(5);
    // Payment worker dies right after committing the charge's outcome; order worker right
    // after committing the reaction to it (PAID + CommitReservation in its outbox).
    const payments1 = start('payment-worker', { ...paymentEnv(saga.sim), ...CRASH, STOCKFLOW_TEST_EXIT_AFTER_COMMIT: 'RequestPayment' });
    const orders1 = start('order-worker', { ...CRASH, STOCKFLOW_TEST_EXIT_AFTER_COMMIT: 'PaymentCaptured' });
    await Promise.all([payments1.ready(), orders1.ready()]);

    await saga.placeOrder('crash-1');

    expect(await payments1.exited).toMatchObject({ signal: 'SIGKILL' });
    // Committed before the kill: the charge, its outcome, the outbox row (maybe published).
    expect(await saga.env.query(`SELECT status FROM payments.payment WHERE order_id = 'crash-1'`)).toEqual([{ status: 'captured' }]);
    expect(saga.sim.stats.chargePosts).toBe(1);

    // The fast path off: Redis may already know the committed ids (they are remembered right
    // after COMMIT), and what this scenario is about is the inbox absorbing the redelivery.
    const payments2 = await start('payment-worker', { ...paymentEnv(saga.sim), DEDUP_FAST_PATH: 'false' }).ready();
    expect(await orders1.exited).toMatchObject({ signal: 'SIGKILL' });
    const orders2 = await start('order-worker', { DEDUP_FAST_PATH: 'false' }).ready();

    const [row] = await saga.assertConsistent(['crash-1']);
    expect(row).toMatchObject({ status: 'CONFIRMED', payment_status: 'captured', stock_status: 'committed' });

    // The redeliveries reached the restarted workers and were absorbed by the inbox...
    await eventually(async () => {
      expect(await payments2.metric('stockflow_duplicates_total', { type: 'RequestPayment', via: 'inbox' })).toBe(1);
      expect(await orders2.metric('stockflow_duplicates_total', { type: 'PaymentCaptured', via: 'inbox' })).toBeGreaterThanOrEqual(1);
    });
    // ...without a second HTTP call (a committed message never runs prepare again)...
    expect(saga.sim.stats.chargePosts).toBe(1);
    expect(saga.sim.snapshot().charges).toEqual([expect.objectContaining({ orderId: 'crash-1', status: 'captured', amount: PRICE, requests: 1, refunded: 0 })]);
    // ...and without a second effect anywhere downstream.
    expect(saga.eventsFor('PaymentCaptured', 'crash-1')).toHaveLength(1);
    expect(saga.eventsFor('OrderConfirmed', 'crash-1')).toHaveLength(1);
    const commits = await saga.env.query(`SELECT 1 FROM inventory.ledger WHERE kind = 'commit' AND reservation_id = 'crash-1'`);
    expect(commits).toHaveLength(1);
    const transitions = await saga.env.query<{ to_status: string }>(`SELECT to_status FROM orders.order_transition WHERE order_id = 'crash-1' ORDER BY id`);
    expect(transitions.map((t) => t.to_status)).toEqual(['PENDING', 'RESERVED', 'PAID', 'CONFIRMED']);
    expect(await saga.stock()).toEqual({ on_hand: 4, reserved: 0 });
  });
});
