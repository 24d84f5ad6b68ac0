import { declareTopology, partitionQueue, PartitionConsumer, WORKER_KINDS } from '@stockflow/shared';
import { eventually, TestEnv } from '../support';

/**
 * Ownership changes stop partition consumers far more often than shutdowns did, and a stop may
 * land while the consumer is subscribing again (after a reconnect). If that subscription
 * completed after the stop, it would leave a consumer nobody reads: single active consumer can
 * make it the partition's active one, and its deliveries stay unacked forever (seen in floods
 * as "0 ready, N unacked" partitions that never drain). The stop must wait for the
 * subscription in flight and close what it opened.
 */
describe('stopping a partition consumer while it subscribes', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('leaves no consumer behind', async () => {
    env = await TestEnv.create('stop-sub', { partitions: 2 });
    const conn = await env.connection('race');
    await declareTopology(() => conn.createChannel(), env.topology, WORKER_KINDS);
    const queue = partitionQueue(env.namespace, 'inventory', 0, 2);

    // Holds the next channel open of the consumer's re-subscription until the test says so.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    let holdNext = false;
    const open = conn.createChannel.bind(conn);
    conn.createChannel = async () => {
      if (holdNext) {
        holdNext = false;
        held = true;
        await gate;
      }
      return open();
    };

    const consumer = new PartitionConsumer({ conn, queue, partition: 0, prefetch: 10, batchSize: 5, batchWaitMs: 0, log: env.log, process: async (batch, ctl) => batch.forEach((d) => ctl.ack(d)) });
    await consumer.start();
    const probe = await (await env.connection('probe')).createChannel();
    await eventually(async () => expect((await probe.checkQueue(queue)).consumerCount).toBe(1));

    // A reconnect re-runs the subscription; it blocks opening its channel, and we stop meanwhile.
    holdNext = true;
    conn.destroySocket();
    await eventually(() => expect(held).toBe(true), 10_000, 10);
    const stopped = consumer.stop();
    await new Promise((r) => setTimeout(r, 200));
    release();
    await stopped;

    await new Promise((r) => setTimeout(r, 500));
    expect((await probe.checkQueue(queue)).consumerCount).toBe(0);
  });
});
