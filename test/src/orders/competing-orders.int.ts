import { ids, PRICE, Saga } from './harness';

/**
 * The saga under contention and double submits, end to end on
 * real RabbitMQ, Postgres and Redis, with the provider simulator as the external witness.
 */
describe('order saga: competition and double submit', () => {
  let saga: Saga;
  beforeAll(async () => {
    saga = await Saga.start('competing');
  });
  afterAll(async () => saga?.stop());

  it('50 orders competing for stock 20: 20 confirmed, 30 rejected insufficient_stock, 20 charges', async () => {
    await saga.stockUp(20);
    const orderIds = ids('race', 50);
    await Promise.all(orderIds.map((id) => saga.placeOrder(id)));

    const rows = await saga.assertConsistent(orderIds);
    const confirmed = rows.filter((r) => r.status === 'CONFIRMED');
    const rejected = rows.filter((r) => r.status === 'REJECTED');
    expect(confirmed).toHaveLength(20);
    expect(rejected).toHaveLength(30);
    expect(new Set(rejected.map((r) => r.reason))).toEqual(new Set(['insufficient_stock']));

    // Inventory: exactly 20 committed, nothing left held, history agrees with state.
    expect(await saga.stock()).toEqual({ on_hand: 0, reserved: 0 });
    const [commits] = await saga.env.query<{ n: string; qty: string }>(`SELECT count(*) AS n, -sum(delta_on_hand) AS qty FROM inventory.ledger WHERE kind = 'commit' AND reservation_id = ANY($1::text[])`, [orderIds]);
    expect({ n: Number(commits!.n), qty: Number(commits!.qty) }).toEqual({ n: 20, qty: 20 });

    // Provider: exactly 20 charges, all captured, none refunded, each for a confirmed order.
    const ledger = saga.sim.snapshot();
    expect(ledger.charges).toHaveLength(20);
    expect(ledger.charges.every((c) => c.status === 'captured' && c.amount === PRICE && c.refunded === 0)).toBe(true);
    expect(new Set(ledger.charges.map((c) => c.orderId))).toEqual(new Set(confirmed.map((r) => r.id)));
    expect(ledger.refunds).toHaveLength(0);

    // Events: one per outcome per order.
    await saga.tap.waitForCount('OrderConfirmed', 20);
    await saga.tap.waitForCount('OrderRejected', 30);
    expect(saga.tap.distinct('OrderConfirmed')).toHaveLength(20);
    expect(saga.tap.distinct('OrderRejected').every((e) => e.payload.reason === 'insufficient_stock')).toBe(true);
    expect(saga.tap.distinct('PaymentCaptured')).toHaveLength(20);
    expect(saga.tap.distinct('RefundRequested')).toHaveLength(0);
  });

  it('the same PlaceOrder 5x concurrently: one order, one reservation, one charge', async () => {
    await saga.stockUp(10, 'sku-dup');
    // Redelivered copies (same message id) and a double-clicked form (new ids, same order id).
    await Promise.all([
      ...Array.from({ length: 5 }, () => saga.placeOrder('dup-same-id', { productId: 'sku-dup' })),
      ...Array.from({ length: 5 }, (_, i) => saga.placeOrder('dup-new-ids', { productId: 'sku-dup', messageId: `place-dup-new-ids-${i}` })),
    ]);
    const orderIds = ['dup-same-id', 'dup-new-ids'];
    const rows = await saga.assertConsistent(orderIds);
    expect(rows.map((r) => r.status)).toEqual(['CONFIRMED', 'CONFIRMED']);

    for (const id of orderIds) {
      expect(saga.eventsFor('OrderPlaced', id)).toHaveLength(1);
      expect(saga.eventsFor('StockReserved', id)).toHaveLength(1);
      expect(saga.eventsFor('PaymentCaptured', id)).toHaveLength(1);
      expect(saga.eventsFor('OrderConfirmed', id)).toHaveLength(1);
      const charge = saga.sim.chargeOf(id)!;
      expect(charge).toMatchObject({ status: 'captured', amount: PRICE, requests: 1 });
    }
    const [placed] = await saga.env.query<{ n: string }>(`SELECT count(*) AS n FROM orders.inbox WHERE type = 'PlaceOrder' AND partition_key = 'dup-new-ids'`);
    expect(Number(placed!.n)).toBe(5);
    expect(await saga.stock('sku-dup')).toEqual({ on_hand: 8, reserved: 0 });
  });
});
