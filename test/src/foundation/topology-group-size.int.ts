import { randomBytes } from 'node:crypto';
import * as amqp from 'amqplib';
import { declareTopology, deleteTopology, partitionQueue, partitionQueueArguments, TopologyMismatchError, type QuorumGroupSize, type TopologyOptions } from '@stockflow/shared';
import { LOCAL_DEFAULTS } from '../support';

const GROUP = 'x-quorum-initial-group-size';
const amqpUrl = (process.env.AMQP_URL ?? LOCAL_DEFAULTS.AMQP_URL).split(',')[0]!;

/** The queue as the management API shows it (arguments, members). */
async function queueInfo(name: string): Promise<{ arguments: Record<string, unknown>; members?: string[] }> {
  const a = new URL(amqpUrl);
  const auth = 'Basic ' + Buffer.from(`${decodeURIComponent(a.username || 'guest')}:${decodeURIComponent(a.password || 'guest')}`).toString('base64');
  const res = await fetch(`${process.env.MANAGEMENT_URL?.replace(/\/$/, '') ?? `http://${a.hostname}:15672`}/api/queues/%2F/${encodeURIComponent(name)}`, { headers: { authorization: auth } });
  if (!res.ok) throw new Error(`management API: HTTP ${res.status} for ${name}`);
  return (await res.json()) as { arguments: Record<string, unknown>; members?: string[] };
}

/**
 * Queues created for one node or for a cluster of three (with or without
 * x-quorum-initial-group-size) are accepted by the topology check whatever group size the
 * declaring worker was given, and keep what they have; every other argument is still checked.
 */
describe('topology check and the quorum group size', () => {
  let conn: amqp.ChannelModel;
  const namespace = `t-qgs-${randomBytes(3).toString('hex')}`;
  const opts = (quorumGroupSize?: QuorumGroupSize, deliveryLimit = 20): TopologyOptions => ({ namespace, partitions: 2, deliveryLimit, quorumGroupSize });
  const declare = (o: TopologyOptions) => declareTopology(() => conn.createChannel(), o, ['inventory']);
  const p0 = partitionQueue(namespace, 'inventory', 0, 2);

  beforeAll(async () => {
    conn = await amqp.connect(amqpUrl);
  });
  afterAll(async () => {
    await deleteTopology(() => conn.createChannel(), opts());
    await conn.close();
  });

  it('accepts queues created without a group size, and leaves them so', async () => {
    await declare(opts());
    await declare(opts(3));
    await declare(opts(1));
    expect((await queueInfo(p0)).arguments).not.toHaveProperty(GROUP);
    expect((await queueInfo(`${p0}.dead`)).arguments).not.toHaveProperty(GROUP);
  });

  it('creates queues with the group size given, and accepts them with another or none', async () => {
    await deleteTopology(() => conn.createChannel(), opts());
    await declare(opts(3));
    const info = await queueInfo(p0);
    expect(info.arguments[GROUP]).toBe(3);
    // One node: RabbitMQ places the queue on the nodes there are.
    expect(info.members).toHaveLength(1);
    expect((await queueInfo(`${p0}.dead`)).arguments[GROUP]).toBe(3);
    await declare(opts());
    await declare(opts(1));
    expect((await queueInfo(p0)).arguments[GROUP]).toBe(3);
  });

  it('still refuses any other argument that differs, and a group size of another cluster shape', async () => {
    const attempt = declare(opts(1, 35));
    await expect(attempt).rejects.toThrow(TopologyMismatchError);
    expect(((await attempt.catch((e: unknown) => e)) as TopologyMismatchError).argument).toBe('x-delivery-limit');

    await deleteTopology(() => conn.createChannel(), opts());
    const ch = await conn.createChannel();
    await ch.assertQueue(p0, { durable: true, arguments: { ...partitionQueueArguments(opts(), p0), [GROUP]: 5 } });
    await ch.close();
    const five = declare(opts(3));
    await expect(five).rejects.toThrow(TopologyMismatchError);
    const err = (await five.catch((e: unknown) => e)) as TopologyMismatchError;
    expect(err.argument).toBe(GROUP);
    expect(err.detail).toMatch(/current is .*'5'/);
  });
});
