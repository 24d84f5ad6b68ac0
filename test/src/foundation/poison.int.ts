import { HEADER, newMessageId, partitionQueue, propertiesOf, routeOf, TransientError } from '@stockflow/shared';
import { eventually, startInventory, TestEnv } from '../support';
import { registerWarehouses } from './fixtures';

/**
 * Every kind of bad message, interleaved with good ones on the same partition: each bad one
 * reaches the partition's dead queue with its reason header within a bounded time, the good
 * ones around it are all applied, and the worker never stops.
 */
describe('poison messages', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('dead-letters each with a reason and keeps the partition flowing', async () => {
    env = await TestEnv.create('poison');
    const crashLoopId = 'crash-loop-1';
    let worker: Awaited<ReturnType<typeof startInventory>> | undefined = undefined;
    worker = await startInventory(env, { MAX_MESSAGE_BYTES: 2048, DELIVERY_LIMIT: 3, BATCH_SIZE: 20 }, {
      testHooks: {
        beforeCommit(items) {
          if (items.some((i) => i.envelope.messageId === 'boom-1')) throw new Error('handler bug on this one message');
          // A message that takes the worker down (connection and transaction) every time.
          if (items.some((i) => i.envelope.messageId === crashLoopId)) {
            worker?.amqpConnection?.destroySocket();
            throw new TransientError('simulated crash while processing');
          }
        },
      },
    });
    env.topology.deliveryLimit = 3;
    const pub = await env.publisher();
    const tap = await env.tap();
    await registerWarehouses(pub, ['wh-1']);
    await tap.waitForCount('WarehouseRegistered', 1);

    const key = { productId: 'sku-p', warehouseId: 'wh-1' };
    const route = routeOf(env.topology, 'ReceiveStock', 'sku-p:wh-1');
    const queue = partitionQueue(env.namespace, 'inventory', route.partition, env.topology.partitions);
    const good = (i: number) => pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: `good-${i}` });
    const raw = (body: string, props: Record<string, unknown>) =>
      pub.sendRaw(route.exchange, route.routingKey, Buffer.from(body), { ...propertiesOf({ messageId: newMessageId(), type: 'ReceiveStock', version: 1, occurredAt: new Date().toISOString(), correlationId: 'c', partitionKey: 'sku-p:wh-1' }), ...props });
    const validBody = JSON.stringify({ ...key, quantity: 1 });

    let n = 0;
    await good(n++);
    await raw('{"productId": "sku-p", "warehouseId": ', { messageId: 'bad-json' });
    await good(n++);
    await raw(validBody, { messageId: 'bad-type', type: 'FrobnicateStock' });
    await good(n++);
    await raw(JSON.stringify({ ...key, quantity: -5 }), { messageId: 'bad-schema' });
    await raw(JSON.stringify({ productId: 'sku-p' }), { messageId: 'bad-missing-fields' });
    await good(n++);
    await raw(JSON.stringify({ ...key, quantity: 1, note: 'x'.repeat(4096) }), { messageId: 'bad-oversized' });
    await raw(validBody, { messageId: undefined });
    await raw(validBody, { messageId: 'bad-version', headers: { [HEADER.version]: 2, [HEADER.partitionKey]: 'sku-p:wh-1' } });
    await good(n++);
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: 'boom-1' });
    await good(n++);
    await pub.send('ReceiveStock', { ...key, quantity: 1 }, { messageId: crashLoopId });
    for (let i = 0; i < 14; i++) await good(n++);

    const expected: Record<string, string> = {
      'bad-json': 'malformed_json',
      'bad-type': 'unknown_type',
      'bad-schema': 'invalid_schema',
      'bad-missing-fields': 'invalid_schema',
      'bad-oversized': 'oversized',
      'bad-version': 'unsupported_version',
      'boom-1': 'handler_error',
    };
    const dead = await eventually(async () => {
      const msgs = await env.peekDeadQueues('inventory');
      expect(msgs.length).toBeGreaterThanOrEqual(Object.keys(expected).length + 2);
      return msgs;
    }, 60_000);
    expect(new Set(dead.map((d) => d.queue))).toEqual(new Set([`${queue}.dead`]));
    for (const [id, reason] of Object.entries(expected)) {
      expect(dead.find((d) => d.messageId === id)?.headers[HEADER.reason]).toBe(reason);
    }
    expect(dead.find((d) => d.messageId?.startsWith('unidentified-'))?.headers[HEADER.reason]).toBe('invalid_envelope');
    // The crash loop is ended by the broker's delivery limit, not by the worker.
    const loop = dead.find((d) => d.messageId === crashLoopId);
    expect(loop?.headers['x-first-death-reason']).toBe('delivery_limit');
    expect(String(dead.find((d) => d.messageId === 'boom-1')?.headers[HEADER.error])).toContain('handler bug');

    await eventually(async () => {
      const rows = await env.query<{ on_hand: number }>(`SELECT on_hand FROM inventory.stock WHERE product_id = 'sku-p'`);
      expect(rows[0]?.on_hand).toBe(n);
    }, 60_000);
    const applied = await env.query<{ message_id: string }>(`SELECT message_id FROM inventory.inbox WHERE partition_key = 'sku-p:wh-1'`);
    expect(applied.map((r) => r.message_id).sort()).toEqual(Array.from({ length: n }, (_, i) => `good-${i}`).sort());
    expect(worker.state).toBe('running');
  });
});
