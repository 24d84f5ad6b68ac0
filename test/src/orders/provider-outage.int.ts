import { partitionOf } from '@stockflow/shared';
import { eventually, workerMetric } from '../support';
import { Saga } from './harness';

/**
 * A provider that keeps failing one order's charge (5xx) past PROVIDER_MAX_ATTEMPTS and the
 * retry budget does not hold that order's partition: the payment is recorded with an unknown
 * outcome, the next orders of the partition are charged and confirmed, and the pending sweep
 * later finds the charge never reached the provider and fails it (the stock goes back).
 */
describe('payments: a provider outage that one order meets', () => {
  let saga: Saga;
  beforeAll(async () => {
    saga = await Saga.start('outage', { payments: { HTTP_PORT: 0, PENDING_SWEEP_MS: 200, PENDING_RECONCILE_AFTER_MS: 1000, PROVIDER_MAX_ATTEMPTS: 3, RETRY_MAX_MS: 200 } });
    await saga.stockUp(10);
  });
  afterAll(async () => saga?.stop());

  it('records the charge as unknown and lets the partition go on; the sweep fails it later', async () => {
    const partitions = saga.env.topology.partitions;
    const same = Array.from({ length: 500 }, (_, i) => `out-${i}`).filter((id) => partitionOf(id, partitions) === partitionOf('out-0', partitions));
    const [down, next] = [same[0]!, same[1]!];
    saga.sim.configure({ unavailableOrders: [down] });
    await saga.placeOrder(down);
    await eventually(async () => expect(saga.sim.stats.chargePosts).toBeGreaterThanOrEqual(1));
    await saga.placeOrder(next);

    await saga.waitForStatus(next, 'CONFIRMED', 60_000);
    const [row] = await saga.assertConsistent([down]);
    expect(row).toMatchObject({ status: 'REJECTED', reason: 'payment_failed', stock_status: 'released' });
    const [payment] = await saga.env.query<{ status: string; failure_reason: string }>('SELECT status, failure_reason FROM payments.payment WHERE order_id = $1', [down]);
    expect(payment).toEqual({ status: 'failed', failure_reason: 'charge_never_reached_provider' });
    expect(saga.sim.chargeOf(down)).toBeUndefined();
    expect(await saga.env.peekDeadQueues('payments')).toEqual([]);
    expect(await workerMetric(saga.payments!, 'stockflow_transient_retries_total', { kind: 'prepare' })).toBeGreaterThanOrEqual(4);
  });
});
