import { eventually } from '../support';
import { ids, PRICE, Saga } from './harness';

const random = (max: number) => Math.floor(Math.random() * max);

/**
 * A cancel racing the payment. Whatever wins, the order ends either
 * CONFIRMED (the cancel refused with an event) or CANCELLED with the money back: net charge 0
 * at the provider and no stock held.
 */
describe('order saga: cancel racing payment success', () => {
  let saga: Saga;
  beforeAll(async () => {
    saga = await Saga.start('cancel-races', { payments: { PROVIDER_TIMEOUT_MS: 10_000 } });
    await saga.stockUp(100);
  });
  afterAll(async () => saga?.stop());

  it('cancel racing payment success: confirmed and not cancelled, or cancelled with a refund', async () => {
    // Pinned interleavings first, so every branch is taken on every run.
    // 1. The cancel lands while the charge is at the provider: cancelled, then refunded.
    saga.sim.hold('c-during-charge');
    await saga.placeOrder('c-during-charge');
    await saga.waitForStatus('c-during-charge', 'RESERVED');
    await saga.cancelOrder('c-during-charge');
    await saga.waitForStatus('c-during-charge', 'CANCELLED');
    saga.sim.release('c-during-charge');

    // 2. The cancel comes after confirmation: refused, the order stays confirmed. How long the
    //    saga took sets the spread of the free-running races below, so they land on both sides.
    const started = Date.now();
    await saga.placeOrder('c-after-confirm');
    await saga.waitForStatus('c-after-confirm', 'CONFIRMED');
    const span = Math.max(200, Date.now() - started);
    await saga.cancelOrder('c-after-confirm');

    // 3. The cancel arrives before the order: the id is burned, nothing is reserved or charged.
    await saga.cancelOrder('c-before-place');
    await saga.placeOrder('c-before-place');

    // 4. Free-running races: each cancel after a random delay, against a slowish provider.
    saga.sim.configure({ slowMs: 40 });
    const racing = ids('c-race', 20);
    await Promise.all(
      racing.map(async (id) => {
        await saga.placeOrder(id);
        await new Promise((r) => setTimeout(r, random(5 * span)));
        await saga.cancelOrder(id);
      }),
    );

    const all = ['c-during-charge', 'c-after-confirm', 'c-before-place', ...racing];
    // Every cancel must have been answered before the answers are counted.
    await saga.processed(all.map((id) => `cancel-${id}`));
    const rows = await saga.assertConsistent(all);
    await saga.tap.waitFor(() => all.every((id) => saga.eventsFor('OrderCancelled', id).length + saga.eventsFor('OrderCancelRejected', id).length === 1));
    const byId = new Map(rows.map((r) => [r.id, r]));

    expect(byId.get('c-during-charge')).toMatchObject({ status: 'CANCELLED', payment_status: 'captured', refund_status: 'refunded' });
    expect(saga.eventsFor('OrderCancelled', 'c-during-charge')[0]!.payload).toMatchObject({ previousStatus: 'RESERVED' });
    expect(saga.eventsFor('RefundRequested', 'c-during-charge')[0]!.payload).toMatchObject({ amount: PRICE, reason: 'cancelled' });
    expect(saga.eventsFor('PaymentRefunded', 'c-during-charge')).toHaveLength(1);
    expect(saga.sim.chargeOf('c-during-charge')).toMatchObject({ status: 'captured', refunded: PRICE });

    expect(byId.get('c-after-confirm')!.status).toBe('CONFIRMED');
    expect(saga.eventsFor('OrderCancelRejected', 'c-after-confirm')[0]!.payload).toMatchObject({ status: 'CONFIRMED' });
    expect(saga.sim.netCharged('c-after-confirm')).toBe(PRICE);

    expect(byId.get('c-before-place')).toMatchObject({ status: 'CANCELLED', amount: 0, stock_status: 'none', payment_status: 'none' });
    expect(saga.eventsFor('OrderCancelled', 'c-before-place')[0]!.payload).toMatchObject({ previousStatus: null });
    expect(saga.eventsFor('OrderPlaced', 'c-before-place')).toHaveLength(0);
    expect(saga.sim.chargeOf('c-before-place')).toBeUndefined();

    for (const id of racing) {
      const o = byId.get(id)!;
      expect(['CONFIRMED', 'CANCELLED']).toContain(o.status);
      if (o.status === 'CONFIRMED') {
        expect(saga.eventsFor('OrderCancelRejected', id)).toHaveLength(1);
        expect(saga.eventsFor('OrderCancelled', id)).toHaveLength(0);
      } else {
        expect(saga.eventsFor('OrderCancelled', id)).toHaveLength(1);
        // Money that was taken came back in full.
        const charge = saga.sim.chargeOf(id);
        if (charge?.status === 'captured') expect(charge.refunded).toBe(PRICE);
      }
    }
    const confirmed = rows.filter((r) => r.status === 'CONFIRMED').length;
    await eventually(async () => expect(await saga.stock()).toEqual({ on_hand: 100 - confirmed, reserved: 0 }));
    saga.env.log.info({ racing: racing.map((id) => `${id}:${byId.get(id)!.status}`) }, 'cancel race outcomes');
  });
});
