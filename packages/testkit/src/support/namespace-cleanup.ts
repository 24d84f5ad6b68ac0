import { deleteNamespaceKeys, deleteTopology, type TopologyOptions } from '@stockflow/shared';
import { connectAnyBroker } from './broker-urls';

/**
 * Deletes what a run put into its namespace on the broker and in Redis: the topology's queues
 * and exchanges, the run's other queues (`queues`: a tap, a measuring queue) and every
 * `<namespace>:` key. Over a connection of its own, so it does not depend on the state of the
 * run's connections (one may be reconnecting after a fault, or be the reason the run failed).
 * Deleting what does not exist is no error, so it can run however far the run got.
 */
export async function deleteNamespace(opts: { amqpUrl: string; redisUrl: string; topology: TopologyOptions; queues?: string[] }): Promise<void> {
  const results = await Promise.allSettled([deleteBrokerObjects(opts), deleteNamespaceKeys(opts.redisUrl, opts.topology.namespace)]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/** Deletes these queues (the ones that exist), over a connection of its own. */
export async function deleteQueues(amqpUrl: string, queues: string[]): Promise<void> {
  const conn = await connectAnyBroker(amqpUrl, { timeout: 10_000 });
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    for (const q of queues) await ch.deleteQueue(q);
    await ch.close();
  } finally {
    await conn.close().catch(() => undefined);
  }
}

async function deleteBrokerObjects(opts: { amqpUrl: string; topology: TopologyOptions; queues?: string[] }): Promise<void> {
  const conn = await connectAnyBroker(opts.amqpUrl, { timeout: 10_000 });
  conn.on('error', () => undefined);
  try {
    await deleteTopology(() => conn.createChannel(), opts.topology);
  } finally {
    await conn.close().catch(() => undefined);
  }
  if (opts.queues && opts.queues.length > 0) await deleteQueues(opts.amqpUrl, opts.queues);
}
