import { partitionOf, partitionQueue } from '@stockflow/shared';
import { eventually, workerMetric } from '../support';
import { ops } from '../ops/run-ops';
import { HANGING_PROVIDER_TIMEOUT_MS as TIMEOUT_MS, startWithHangingProvider, type Saga } from './harness';

const ORDER = 'paused-retry-1';
/** How long `ops pause` waits for the let-go: far less than a round, well over the grace and a poll. */
const WAIT_S = 15;

/**
 * An operator pauses the payment partition whose batch in hand keeps retrying a provider that
 * does not answer. The pause is let go of within a bound, not once the round of attempts runs
 * out: the batch's retries are cut short and its delivery goes back to the queue, the provider is
 * not called while the partition is paused, and after the resume the order is charged once
 * (same idempotency key) and confirmed.
 */
describe('a pause while a payment batch retries the provider', () => {
  let saga: Saga;
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ saga, stop } = await startWithHangingProvider('pause-retry', 5));
  });
  // A failed run may leave the batch retrying, and a worker's stop drains it.
  afterAll(async () => stop?.(), 60_000);

  it('lets go of the partition within the grace, holds the payment while paused, and charges it once after the resume', async () => {
    const partition = partitionOf(ORDER, saga.env.topology.partitions);
    saga.sim.timeOut(ORDER, 1_000, 'before-charge');
    await saga.placeOrder(ORDER);
    await eventually(async () => expect(saga.sim.stats.chargePosts).toBeGreaterThanOrEqual(2), 30_000, 100);

    const paused = await ops(saga.env, ['pause', 'payments', '--partition', String(partition), '--reason', 'provider incident', '--wait', String(WAIT_S)]);
    expect({ code: paused.code, err: paused.err }).toEqual({ code: 0, err: '' });
    expect(await workerMetric(saga.payments!, 'stockflow_given_back_total', { step: 'pause' })).toBe(1);
    const queue = partitionQueue(saga.env.namespace, 'payments', partition, saga.env.topology.partitions);
    const ch = await (await saga.env.connection('pause-retry')).createChannel();
    expect(await ch.checkQueue(queue)).toMatchObject({ consumerCount: 0, messageCount: 1 });
    await ch.close();
    // Paused: nobody asks the provider about the order any more.
    const posts = saga.sim.stats.chargePosts;
    await new Promise((r) => setTimeout(r, 2 * TIMEOUT_MS));
    expect(saga.sim.stats.chargePosts).toBe(posts);
    expect(await saga.order(ORDER)).toMatchObject({ status: 'RESERVED', payment_status: 'requested' });

    saga.sim.configure({ timeouts: {} });
    expect((await ops(saga.env, ['resume', 'payments', '--partition', String(partition)])).code).toBe(0);
    await saga.waitForStatus(ORDER, 'CONFIRMED', 60_000);
    await saga.settle([ORDER]);
    expect(saga.sim.chargeOf(ORDER)).toMatchObject({ status: 'captured', amount: 1250 });
    expect(await saga.env.peekDeadQueues('payments')).toEqual([]);
  });
});
