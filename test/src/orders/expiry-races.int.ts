import { eventually } from '../support';
import { ids, PRICE, Saga } from './harness';

const random = (max: number) => Math.floor(Math.random() * max);

/**
 * The stock hold expiring while the payment is on its way. No order is
 * confirmed without committed stock; money captured too late is refunded.
 *
 * Inventory's own expiry timer is slowed right down so the test decides when a hold expires:
 * it sends ExpireReservation itself (as the scheduler would), or lets the commit find the
 * hold overdue (inventory expires it there and refuses the commit).
 */
describe('order saga: reservation expiry racing payment', () => {
  let saga: Saga;
  beforeAll(async () => {
    saga = await Saga.start('expiry-races', {
      inventory: { EXPIRY_POLL_MS: 60_000, EXPIRY_SWEEP_MS: 3_600_000 },
      payments: { PROVIDER_TIMEOUT_MS: 10_000 },
    });
    await saga.stockUp(100);
  });
  afterAll(async () => saga?.stop());

  const expire = (id: string) => saga.pub.send('ExpireReservation', { reservationId: id });

  async function overdue(id: string): Promise<void> {
    await eventually(async () => {
      const [r] = await saga.env.query<{ overdue: boolean }>('SELECT expires_at < now() AS overdue FROM inventory.reservation WHERE id = $1', [id]);
      expect(r?.overdue).toBe(true);
    });
  }

  it('reservation expiry racing payment: no order confirmed without committed stock; refund when late', async () => {
    // 1. The hold expires while the charge is at the provider: EXPIRED, then the late money back.
    saga.sim.hold('x-expired-first');
    await saga.placeOrder('x-expired-first', { ttlMs: 300 });
    await saga.waitForStatus('x-expired-first', 'RESERVED');
    await overdue('x-expired-first');
    await expire('x-expired-first');
    await saga.waitForStatus('x-expired-first', 'EXPIRED');
    saga.sim.release('x-expired-first');

    // 2. The money arrives after the hold is due but before anyone expired it: the commit
    //    finds it overdue, inventory expires it and refuses the commit, the money goes back.
    saga.sim.hold('x-commit-too-late');
    await saga.placeOrder('x-commit-too-late', { ttlMs: 300 });
    await saga.waitForStatus('x-commit-too-late', 'RESERVED');
    await overdue('x-commit-too-late');
    saga.sim.release('x-commit-too-late');

    // 3. In time: confirmed, and a late ExpireReservation changes nothing. How long the saga
    //    took sets the spread of the free-running races below, so they land on both sides.
    const started = Date.now();
    await saga.placeOrder('x-in-time', { ttlMs: 60_000 });
    await saga.waitForStatus('x-in-time', 'CONFIRMED');
    const span = Math.max(200, Date.now() - started);
    await expire('x-in-time');

    // 4. Free-running: short holds, a slowish provider, expiries sent at random moments
    //    (one that is not due yet only puts the hold back on the schedule).
    saga.sim.configure({ slowMs: 60 });
    const racing = ids('x-race', 16);
    await Promise.all(
      racing.map(async (id) => {
        await saga.placeOrder(id, { ttlMs: 100 + random(2 * span) });
        await new Promise((r) => setTimeout(r, random(2 * span)));
        await expire(id);
      }),
    );

    const all = ['x-expired-first', 'x-commit-too-late', 'x-in-time', ...racing];
    const rows = await saga.assertConsistent(all);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const reservations = await saga.reservations(all);

    expect(byId.get('x-expired-first')).toMatchObject({ status: 'EXPIRED', payment_status: 'captured', refund_status: 'refunded', stock_status: 'expired' });
    expect(saga.eventsFor('OrderExpired', 'x-expired-first')[0]!.payload).toMatchObject({ previousStatus: 'RESERVED', refund: false });
    expect(saga.eventsFor('RefundRequested', 'x-expired-first')[0]!.payload).toMatchObject({ amount: PRICE, reason: 'expired' });

    expect(byId.get('x-commit-too-late')).toMatchObject({ status: 'EXPIRED', payment_status: 'captured', refund_status: 'refunded', stock_status: 'expired' });
    expect(saga.eventsFor('OrderExpired', 'x-commit-too-late')[0]!.payload).toMatchObject({ previousStatus: 'PAID', refund: true });
    expect(reservations.get('x-commit-too-late')).toBe('expired');

    expect(byId.get('x-in-time')!.status).toBe('CONFIRMED');
    expect(reservations.get('x-in-time')).toBe('committed');

    for (const id of racing) {
      const o = byId.get(id)!;
      expect(['CONFIRMED', 'EXPIRED']).toContain(o.status);
      // Confirmed ⇔ the hold was committed; expired ⇒ nothing committed and the money is back.
      expect(reservations.get(id)).toBe(o.status === 'CONFIRMED' ? 'committed' : 'expired');
    }
    const confirmed = rows.filter((r) => r.status === 'CONFIRMED').length;
    await eventually(async () => expect(await saga.stock()).toEqual({ on_hand: 100 - confirmed, reserved: 0 }));
    const [committed] = await saga.env.query<{ qty: string }>(`SELECT coalesce(-sum(delta_on_hand), 0) AS qty FROM inventory.ledger WHERE kind = 'commit'`);
    expect(Number(committed!.qty)).toBe(confirmed);
    saga.env.log.info({ racing: racing.map((id) => `${id}:${byId.get(id)!.status}`) }, 'expiry race outcomes');
  });
});
