import type { WebhookEvent } from '../provider-simulator';
import { eventually } from '../support';
import { PRICE, Saga } from './harness';

/**
 * Issue 4, scenario 4: provider webhooks through payment-worker's HTTP gateway. The same
 * webhook twice in parallel is one payment record and one outcome; a forged or tampered one
 * is dead-lettered with reason bad_signature and changes nothing.
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

  it('a forged or tampered webhook goes to the dead-letter queue with reason bad_signature and has no effect', async () => {
    // About a charge that never happened: if accepted it would create a captured payment.
    const ghost: WebhookEvent = {
      id: 'evt_forged_ghost',
      type: 'payment.captured',
      createdAt: new Date().toISOString(),
      data: { idempotencyKey: 'order-ghost-payment', orderId: 'ghost', chargeId: 'ch_forged', amount: PRICE, currency: 'EUR' },
    };
    expect(await saga.sim.deliver(ghost, { mode: 'forged' })).toEqual([202]);
    expect(await saga.sim.deliver({ ...ghost, id: 'evt_tampered_ghost' }, { mode: 'tampered' })).toEqual([202]);
    const unsigned = await fetch(`http://127.0.0.1:${saga.payments!.httpPort}/webhooks/provider`, { method: 'POST', body: JSON.stringify({ ...ghost, id: 'evt_unsigned_ghost' }) });
    expect(unsigned.status).toBe(202);
    // A forged copy of a genuine event id, arriving first, must not shadow the genuine one:
    // the capture of this pending charge is told only by webhook.
    saga.sim.configure({ asyncCaptureOrders: ['wh-replay'], asyncCaptureDelayMs: 600_000 });
    await saga.placeOrder('wh-replay');
    await eventually(async () => expect(await payments('wh-replay')).toMatchObject([{ status: 'pending' }]));
    saga.sim.completeCharge('wh-replay');
    await saga.sim.sendWebhook('wh-replay', { eventId: 'evt_replay', mode: 'forged' });

    // Draining takes the messages out, so collect across polls.
    const dead: Awaited<ReturnType<typeof saga.env.drainDeadQueues>> = [];
    await eventually(async () => {
      dead.push(...(await saga.env.drainDeadQueues('payments')));
      expect(dead).toHaveLength(4);
    });
    expect(dead.map((d) => d.messageId).sort()).toEqual(['evt_forged_ghost', 'evt_replay', 'evt_tampered_ghost', 'evt_unsigned_ghost']);
    expect(dead.every((d) => d.type === 'ProviderWebhook' && d.headers['x-stockflow-reason'] === 'bad_signature')).toBe(true);

    expect(await payments('ghost')).toEqual([]);
    expect(await saga.env.query('SELECT 1 FROM payments.webhook_event WHERE order_id = $1', ['ghost'])).toEqual([]);
    expect(await saga.env.query(`SELECT 1 FROM payments.inbox WHERE message_id LIKE 'evt_%ghost'`)).toEqual([]);
    expect(saga.eventsFor('PaymentCaptured', 'ghost')).toHaveLength(0);
    expect(await saga.order('ghost')).toBeUndefined();
    expect((await saga.order('wh-replay'))!.status).toBe('RESERVED');
    expect(await payments('wh-replay')).toMatchObject([{ status: 'pending' }]);

    await saga.sim.sendWebhook('wh-replay', { eventId: 'evt_replay' });
    const [replayed] = await saga.assertConsistent(['wh-replay']);
    expect(replayed!.status).toBe('CONFIRMED');
    expect(await payments('wh-replay')).toMatchObject([{ status: 'captured' }]);
    expect(saga.eventsFor('PaymentCaptured', 'wh-replay')).toHaveLength(1);

    // The gateway refuses what it cannot route, before anything is published.
    const res = await fetch(`http://127.0.0.1:${saga.payments!.httpPort}/webhooks/provider`, { method: 'POST', body: '{"nope":true}' });
    expect(res.status).toBe(400);
  });
});
