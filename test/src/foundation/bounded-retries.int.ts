import { connect } from 'amqplib';
import { deadQueue, HEADER, partitionQueue, propertiesOf, routeOf, TransientError, type UnitOfWork, type Worker } from '@stockflow/shared';
import { eventually, startInventory, TestEnv, workerMetric } from '../support';
import { registerWarehouses } from './fixtures';

/**
 * Every retry loop of the pipeline is bounded: a message that cannot be dead-lettered as it is,
 * a dead queue somebody deleted, and a transient failure that never ends each leave the
 * partition within a bounded time, with the message somewhere visible (its dead queue, with a
 * reason), and the next messages of the partition are applied.
 */
describe('bounded retries', () => {
  let env: TestEnv;
  let worker: Worker<UnitOfWork>;
  const stuck = new Set<string>();
  const key = { productId: 'sku-b', warehouseId: 'wh-1' };

  beforeAll(async () => {
    env = await TestEnv.create('bounded', { deliveryLimit: 3 });
    worker = await startInventory(env, { HTTP_PORT: 0, DELIVERY_LIMIT: 3, RETRY_BASE_MS: 5, RETRY_MAX_MS: 50, BATCH_SIZE: 10 }, {
      testHooks: {
        beforeCommit(items) {
          if (items.some((i) => stuck.has(i.envelope.messageId))) throw new TransientError('a dependency that never comes back (injected)');
        },
      },
    });
    const pub = await env.publisher();
    await registerWarehouses(pub, ['wh-1']);
    await env.waitIdle();
  });
  afterAll(async () => env?.cleanup());

  const route = () => routeOf(env.topology, 'ReceiveStock', 'sku-b:wh-1');
  const queue = () => partitionQueue(env.namespace, 'inventory', route().partition, env.topology.partitions);
  const applied = async (ids: string[]) => eventually(async () => expect((await env.query<{ message_id: string }>('SELECT message_id FROM inventory.inbox WHERE message_id = ANY($1::text[])', [ids])).map((r) => r.message_id).sort()).toEqual([...ids].sort()), 30_000);
  const envelope = (messageId: string) => ({ messageId, type: 'ReceiveStock', version: 1, occurredAt: new Date().toISOString(), correlationId: messageId, partitionKey: 'sku-b:wh-1' });

  it('a bad message whose header table nearly fills amqplib\'s 64 KiB is dead-lettered with the headers that fit, and the partition goes on', async () => {
    // Published with plain amqplib, as any upstream client could: the broker takes it.
    const conn = await connect(env.amqpUrl);
    try {
      const ch = await conn.createConfirmChannel();
      const headers: Record<string, unknown> = { ...propertiesOf(envelope('big-headers')).headers };
      for (let i = 0; i < 64; i++) headers[`x-upstream-${i}`] = 'h'.repeat(1000);
      await new Promise<void>((resolve, reject) =>
        ch.publish(route().exchange, route().routingKey, Buffer.from(JSON.stringify({ ...key, quantity: -1 })), { ...propertiesOf(envelope('big-headers')), headers }, (err) => (err ? reject(err as Error) : resolve())),
      );
      await ch.close();
    } finally {
      await conn.close();
    }
    const pub = await env.publisher();
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'after-big-headers' });
    await applied(['after-big-headers']);
    const [dead] = await env.drainDeadQueues('inventory');
    expect(dead).toMatchObject({ messageId: 'big-headers', queue: deadQueue(queue()), headers: { [HEADER.reason]: 'invalid_schema', [HEADER.partitionKey]: 'sku-b:wh-1' } });
    const dropped = String(dead!.headers['x-stockflow-dropped-headers']).split(',');
    expect(dropped.length).toBeGreaterThan(40);
    expect(dropped.every((h) => h.startsWith('x-upstream-'))).toBe(true);
  });

  it('a deleted dead queue is declared again and receives the dead letter', async () => {
    const admin = await env.connection('admin');
    const ch = await admin.createChannel();
    await ch.deleteQueue(deadQueue(queue()));
    await ch.close();
    const pub = await env.publisher();
    await pub.sendRaw(route().exchange, route().routingKey, Buffer.from('{"not json'), propertiesOf(envelope('dead-queue-gone')));
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'after-dead-queue-gone' });
    await applied(['after-dead-queue-gone']);
    const dead = await eventually(async () => {
      const d = await env.drainDeadQueues('inventory');
      expect(d).toHaveLength(1);
      return d[0]!;
    });
    expect(dead).toMatchObject({ messageId: 'dead-queue-gone', headers: { [HEADER.reason]: 'malformed_json' } });
  });

  it('a transient failure that never ends is given back to the broker until its delivery limit dead-letters it; the partition goes on', async () => {
    stuck.add('stuck-1');
    const pub = await env.publisher();
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'stuck-1' });
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'after-stuck' });
    await applied(['after-stuck']);
    const dead = await eventually(async () => {
      const d = await env.peekDeadQueues('inventory');
      expect(d).toHaveLength(1);
      return d[0]!;
    }, 60_000);
    expect(dead).toMatchObject({ messageId: 'stuck-1', headers: { 'x-first-death-reason': 'delivery_limit' } });
    expect(await workerMetric(worker, 'stockflow_given_back_total', { step: 'transaction' })).toBeGreaterThanOrEqual(3);
    expect(await env.query('SELECT 1 FROM inventory.inbox WHERE message_id = $1', ['stuck-1'])).toEqual([]);
    await env.drainDeadQueues('inventory');
  });
});
