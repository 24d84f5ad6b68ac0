import type { WebhookEvent } from '@stockflow/testkit/provider-simulator/index';
import { partitionOf, propertiesOf, routeOf } from '@stockflow/shared';
import { eventually, workerMetric } from '../support';
import { PRICE, Saga } from './harness';

/**
 * Provider webhooks through payment-worker's HTTP gateway. The same webhook twice in parallel
 * is one payment record and one outcome; a forged, tampered, unsigned or replayed one is
 * refused at the gateway (401) and never published; one forged on the broker itself is
 * dead-lettered (bad_signature) before its transaction.
 */
describe('payments: signed webhooks', () => {
  let saga: Saga;
  beforeAll(async () => {
    saga = await Saga.start('webhooks');
    await saga.stockUp(10);
  });
  afterAll(async () => saga?.stop());

  async function payments(orderId: string) {
    return saga.env.query<{ status: string; source: string; provider_ref: string | null }>('SELECT status, source, provider_ref FROM payments.payment WHERE order_id = $1', [orderId]);
  }

  it('the same webhook delivered twice in parallel: one payment record, one PaymentCaptured', async () => {
    // Asynchronous capture: the charge call answers `pending`, the capture comes by webhook,
    // and every webhook is delivered twice at once.
    saga.sim.configure({ asyncCaptureOrders: ['wh-async'], webhooks: { enabled: false, duplicates: 2, delayMs: 0 } });
    await saga.placeOrder('wh-async');
    const [row] = await saga.assertConsistent(['wh-async']);
    expect(row!.status).toBe('CONFIRMED');
    expect(await payments('wh-async')).toEqual([{ status: 'captured', source: 'request', provider_ref: saga.sim.chargeOf('wh-async')!.id }]);
    const events = await saga.env.query<{ event_id: string; type: string }>('SELECT event_id, type FROM payments.webhook_event WHERE order_id = $1', ['wh-async']);
    expect(events).toHaveLength(1);
    expect(events[0]!.type).toBe('payment.captured');
    expect(saga.eventsFor('PaymentCaptured', 'wh-async')).toHaveLength(1);

    // Webhooks racing the charge call's own answer (sync capture, webhooks on, doubled): the
    // request path and the webhook path together still emit one PaymentCaptured.
    saga.sim.configure({ webhooks: { enabled: true, duplicates: 2, delayMs: 0 } });
    await saga.placeOrder('wh-sync');
    await saga.assertConsistent(['wh-sync']);
    await eventually(async () => expect(await saga.env.query('SELECT 1 FROM payments.webhook_event WHERE order_id = $1', ['wh-sync'])).toHaveLength(1));
    expect(saga.eventsFor('PaymentCaptured', 'wh-sync')).toHaveLength(1);

    // A late re-send of the capture under a new event id, twice in parallel: recorded, no effect.
    const { statuses } = await saga.sim.sendWebhook('wh-async', { copies: 2, delayMs: 200 });
    expect(statuses).toEqual([202, 202]);
    await eventually(async () => expect(await saga.env.query('SELECT 1 FROM payments.webhook_event WHERE order_id = $1', ['wh-async'])).toHaveLength(2));
    await saga.assertConsistent(['wh-async', 'wh-sync']);
    expect(saga.eventsFor('PaymentCaptured', 'wh-async')).toHaveLength(1);
    expect(await payments('wh-async')).toHaveLength(1);
    saga.sim.configure({ asyncCaptureOrders: [], webhooks: { enabled: false, duplicates: 1, delayMs: 0 } });
  });

  it('the gateway refuses a forged, tampered, unsigned or replayed (stale) webhook with 401 and publishes nothing', async () => {
    // About a charge that never happened: if accepted it would create a captured payment.
    const ghost: WebhookEvent = {
      id: 'evt_forged_ghost',
      type: 'payment.captured',
      createdAt: new Date().toISOString(),
      data: { idempotencyKey: 'order-ghost-payment', orderId: 'ghost', chargeId: 'ch_forged', amount: PRICE, currency: 'EUR' },
    };
    const before = await workerMetric(saga.payments!, 'stockflow_webhooks_total');
    expect(await saga.sim.deliver(ghost, { mode: 'forged' })).toEqual([401]);
    expect(await saga.sim.deliver({ ...ghost, id: 'evt_tampered_ghost' }, { mode: 'tampered' })).toEqual([401]);
    expect(await saga.sim.deliver({ ...ghost, id: 'evt_unsigned_ghost' }, { mode: 'unsigned' })).toEqual([401]);
    expect(await saga.sim.deliver({ ...ghost, id: 'evt_stale_ghost' }, { mode: 'stale' })).toEqual([401]);
    const junk = await fetch(`http://127.0.0.1:${saga.payments!.httpPort}/webhooks/provider`, { method: 'POST', headers: { 'x-signature': 'v1=abc' }, body: JSON.stringify(ghost) });
    expect(junk.status).toBe(401);
    // A forged copy of a genuine event id, arriving first, must not shadow the genuine one:
    // the capture of this pending charge is told only by webhook.
    saga.sim.configure({ asyncCaptureOrders: ['wh-replay'], asyncCaptureDelayMs: 600_000 });
    await saga.placeOrder('wh-replay');
    await eventually(async () => expect(await payments('wh-replay')).toMatchObject([{ status: 'pending' }]));
    saga.sim.completeCharge('wh-replay');
    expect((await saga.sim.sendWebhook('wh-replay', { eventId: 'evt_replay', mode: 'forged' })).statuses).toEqual([401]);

    expect(await workerMetric(saga.payments!, 'stockflow_webhooks_total', { outcome: 'signature_mismatch' })).toBeGreaterThanOrEqual(3);
    expect(await workerMetric(saga.payments!, 'stockflow_webhooks_total', { outcome: 'signature_missing' })).toBeGreaterThanOrEqual(1);
    expect(await workerMetric(saga.payments!, 'stockflow_webhooks_total', { outcome: 'signature_stale' })).toBeGreaterThanOrEqual(1);
    expect(await workerMetric(saga.payments!, 'stockflow_webhooks_total', { outcome: 'signature_malformed' })).toBeGreaterThanOrEqual(1);
    expect((await workerMetric(saga.payments!, 'stockflow_webhooks_total')) - before).toBe(6);
    expect(await saga.env.peekDeadQueues('payments')).toEqual([]);
    expect(await payments('ghost')).toEqual([]);
    expect(await saga.env.query(`SELECT 1 FROM payments.inbox WHERE message_id LIKE 'evt_%ghost' OR message_id = 'evt_replay'`)).toEqual([]);
    expect(saga.eventsFor('PaymentCaptured', 'ghost')).toHaveLength(0);
    expect(await saga.order('ghost')).toBeUndefined();
    expect((await saga.order('wh-replay'))!.status).toBe('RESERVED');

    await saga.sim.sendWebhook('wh-replay', { eventId: 'evt_replay' });
    const [replayed] = await saga.assertConsistent(['wh-replay']);
    expect(replayed!.status).toBe('CONFIRMED');
    expect(await payments('wh-replay')).toMatchObject([{ status: 'captured' }]);
    expect(saga.eventsFor('PaymentCaptured', 'wh-replay')).toHaveLength(1);

    // Genuinely signed, but not a webhook this gateway can route: 400, before anything is published.
    const signed = saga.sim.signedBody({ nope: true });
    const res = await fetch(`http://127.0.0.1:${saga.payments!.httpPort}/webhooks/provider`, { method: 'POST', headers: { 'x-signature': signed.signature }, body: signed.body });
    expect(res.status).toBe(400);
  });

  it('a storm of forged POSTs aimed at one partition publishes nothing and leaves that partition to its orders', async () => {
    const target = partitionOf('storm-0', saga.env.topology.partitions);
    const onTarget = Array.from({ length: 2000 }, (_, i) => `storm-${i}`).filter((id) => partitionOf(id, saga.env.topology.partitions) === target);
    const orders = onTarget.slice(0, 5);
    const forged = onTarget.slice(5, 105);
    const modes = ['forged', 'tampered', 'unsigned', 'stale'] as const;
    const before = await workerMetric(saga.payments!, 'stockflow_webhooks_total', { outcome: 'accepted' });
    const storm = Promise.all(
      forged.flatMap((orderId, i) =>
        Array.from({ length: 3 }, (_, copy) =>
          saga.sim.deliver(
            { id: `evt_storm_${i}_${copy}`, type: 'payment.captured', createdAt: new Date().toISOString(), data: { idempotencyKey: `order-${orderId}-payment`, orderId, chargeId: `ch_storm_${i}`, amount: PRICE, currency: 'EUR' } },
            { mode: modes[(i + copy) % modes.length]! },
          ),
        ),
      ),
    );
    await Promise.all(orders.map((id) => saga.placeOrder(id)));
    const statuses = (await storm).flat();
    expect(statuses).toHaveLength(300);
    expect(new Set(statuses)).toEqual(new Set([401]));
    const rows = await saga.assertConsistent(orders);
    expect(rows.map((r) => r.status)).toEqual(orders.map(() => 'CONFIRMED'));
    // Nothing of the storm was published: no webhook accepted, nothing dead-lettered, no claim.
    expect(await workerMetric(saga.payments!, 'stockflow_webhooks_total', { outcome: 'accepted' })).toBe(before);
    expect(await saga.env.peekDeadQueues('payments')).toEqual([]);
    expect(await saga.env.query(`SELECT 1 FROM payments.inbox WHERE message_id LIKE 'evt_storm_%'`)).toEqual([]);
  });

  it('a forged ProviderWebhook published straight to the broker is dead-lettered (bad_signature) before it costs a transaction', async () => {
    const transactions = () => workerMetric(saga.payments!, 'stockflow_lock_wait_seconds_count');
    await saga.env.waitIdle();
    const before = await transactions();
    expect(before).toBeGreaterThan(0);
    const body = Buffer.from(JSON.stringify({ id: 'evt_direct', type: 'payment.captured', createdAt: new Date().toISOString(), data: { idempotencyKey: 'order-direct-payment', orderId: 'direct', chargeId: 'ch_x', amount: PRICE, currency: 'EUR' } }));
    const route = routeOf(saga.env.topology, 'ProviderWebhook', 'direct');
    const env = { messageId: 'evt_direct', type: 'ProviderWebhook', version: 1, occurredAt: new Date().toISOString(), correlationId: 'order-direct', partitionKey: 'direct' };
    await saga.pub.sendRaw(route.exchange, route.routingKey, body, { ...propertiesOf(env, { 'x-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` }) });
    const dead = await eventually(async () => {
      const d = await saga.env.peekDeadQueues('payments');
      expect(d).toHaveLength(1);
      return d[0]!;
    });
    expect(dead).toMatchObject({ messageId: 'evt_direct', headers: { 'x-stockflow-reason': 'bad_signature' } });
    expect(await transactions()).toBe(before);
    await saga.env.drainDeadQueues('payments');
  });
});
