import { contracts, HEADER } from '@stockflow/shared';
import { eventually, startOrders } from '../support';
import { Saga } from './harness';

/**
 * CancelOrder moved from v1 (free-text reason) to v2 (a reason category and a note). Copies of
 * v1 were queued before the order worker that knows v2 started: they are applied, upcast, and a
 * v1 and a v2 copy of one message are one message. A version the worker does not know yet is
 * dead-lettered, never guessed at.
 */
describe('a message moved to v2 while v1 copies are in flight', () => {
  let saga: Saga;
  afterAll(async () => saga?.stop());

  it('applies queued v1 copies through the upcaster, dedups across versions, and dead-letters a future version', async () => {
    expect(contracts.CancelOrder.version).toBe(2);
    saga = await Saga.start('versioning', { workers: { orders: false } });
    await saga.stockUp(10);
    for (const id of ['o-v1', 'o-v12', 'o-v3']) await saga.placeOrder(id);

    /** A CancelOrder as a publisher of `version` would send it: that version's body and x-version. */
    const sendAs = async (version: number, body: object, messageId: string) => {
      const { route, properties } = saga.pub.prepare('CancelOrder', { orderId: (body as { orderId: string }).orderId, reason: 'other' }, { messageId });
      await saga.pub.sendRaw(route.exchange, route.routingKey, Buffer.from(JSON.stringify(body)), { ...properties, headers: { ...properties.headers, [HEADER.version]: version } });
    };
    await sendAs(1, { orderId: 'o-v1', reason: 'customer changed their mind' }, 'cancel-o-v1');
    await sendAs(1, { orderId: 'o-v12', reason: 'duplicate order' }, 'cancel-o-v12');
    await sendAs(2, { orderId: 'o-v12', reason: 'other', note: 'duplicate order' }, 'cancel-o-v12');
    await sendAs(1, { orderId: 'o-v3', reason: 'x'.repeat(201) }, 'cancel-o-v3-bad');
    await sendAs(3, { orderId: 'o-v3', reason: { code: 'customer_request' } }, 'cancel-o-v3');

    saga.workers.push(await startOrders(saga.env));

    const [v1, v12] = await Promise.all([saga.waitForStatus('o-v1', 'CANCELLED'), saga.waitForStatus('o-v12', 'CANCELLED')]);
    expect(v1.reason).toBe('other: customer changed their mind');
    expect(v12.reason).toBe('other: duplicate order');
    await saga.waitForStatus('o-v3', 'CONFIRMED');
    await eventually(async () => {
      const dead = await saga.env.peekDeadQueues('orders');
      const reasons = Object.fromEntries(dead.map((d) => [d.messageId, `${String(d.headers[HEADER.reason])}: ${String(d.headers[HEADER.error])}`]));
      expect(reasons['cancel-o-v3']).toBe('unsupported_version: CancelOrder v3 not supported (v1 to v2 are)');
      expect(reasons['cancel-o-v3-bad']).toMatch(/^invalid_schema: CancelOrder v1: reason: /);
      expect(dead).toHaveLength(2);
    });
    expect(saga.eventsFor('OrderCancelled', 'o-v12')).toHaveLength(1);
    expect(saga.eventsFor('OrderCancelled', 'o-v1')).toHaveLength(1);
  });
});
