import { partitionOf } from '@stockflow/shared';
import { eventually, startPayments } from '../support';
import { paymentEnv, startWithHangingProvider, type Saga } from './harness';

/** Far less than a round of attempts, well over a few provider timeouts. */
const STOP_BOUND_MS = 15_000;

/**
 * A payment worker hands partitions over to a new instance while each of its batches retries a
 * provider that does not answer: a lost partition's batch is drained whole, so the handover waits.
 * The shutdown's force (the grace period over) must reach those draining batches too, or the
 * worker's stop waits out their whole round; what it cuts goes back to the queue and is charged
 * once by the new owner.
 */
describe('a worker stopped while its lost partitions drain', () => {
  let saga: Saga;
  let provider: Record<string, number>;
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ saga, paymentEnv: provider, stop } = await startWithHangingProvider('drain-force', 10));
  });
  afterAll(async () => stop?.(), 60_000);

  it('forces the draining batches, which the new owner then charges once', async () => {
    const a = saga.payments!;
    const partitions = saga.env.topology.partitions;
    // One order on every partition, so whichever the new instance takes has a batch retrying.
    const orders: string[] = [];
    for (let i = 0; orders.length < partitions; i++) {
      const id = `drain-${i}`;
      if (!orders.some((o) => partitionOf(o, partitions) === partitionOf(id, partitions))) orders.push(id);
    }
    for (const o of orders) saga.sim.timeOut(o, 1_000, 'before-charge');
    for (const o of orders) await saga.placeOrder(o);
    await eventually(async () => expect(saga.sim.stats.chargePosts).toBeGreaterThanOrEqual(2 * partitions), 30_000, 100);
    expect(a.ownedPartitions).toHaveLength(partitions);

    const b = await startPayments(saga.env, { ...paymentEnv(saga.sim), ...provider, INSTANCE_ID: 'drain-force-b' });
    await eventually(() => expect(a.ownedPartitions.length).toBeLessThan(partitions), 15_000, 50);

    const stopped = a.stop().then(() => 'stopped');
    await new Promise((r) => setTimeout(r, 1_000));
    a.forceAbort();
    let bound: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([stopped, new Promise((r) => (bound = setTimeout(() => r('still draining'), STOP_BOUND_MS)))]);
    clearTimeout(bound);
    expect(outcome).toBe('stopped');

    saga.sim.configure({ timeouts: {} });
    await eventually(() => expect(b.ownedPartitions).toHaveLength(partitions), 15_000);
    for (const o of orders) await saga.waitForStatus(o, 'CONFIRMED', 60_000);
    for (const o of orders) expect(saga.sim.chargeOf(o)).toMatchObject({ status: 'captured', amount: 1250 });
    expect(await saga.env.peekDeadQueues('payments')).toEqual([]);
  });
});
