import pino from 'pino';
import { inputsOf, type Envelope, type HandlerContext, type MessageType, type Payload } from '@stockflow/shared';
import { orderHandlers } from './handlers';
import type { OrderRow, OrderStatus, OrderUnitOfWork } from './unit-of-work';

/**
 * The saga's rules without a database: handlers run against an in-memory stand-in for the
 * unit of work, and the test plays message sequences at them. The integration tests prove
 * the same end to end; this one covers every interleaving of a cancel exhaustively.
 */
class MemoryOrders {
  readonly rows = new Map<string, OrderRow>();
  order(id: string) {
    return this.rows.get(id);
  }
  create(row: Omit<OrderRow, 'version'>) {
    const full = { ...row, version: 0 };
    this.rows.set(row.id, full);
    return full;
  }
  touch() {}
  transition(row: OrderRow, to: OrderStatus, reason: string | null) {
    row.status = to;
    if (reason !== null) row.reason = reason;
  }
}

const handlers = orderHandlers({ defaultTtlMs: 60_000 });
const log = pino({ level: 'silent' });

function play(uow: MemoryOrders, out: { type: string; payload: unknown }[], type: MessageType, payload: unknown, n: number) {
  const envelope: Envelope = { messageId: `m-${n}`, type, version: 1, occurredAt: new Date().toISOString(), correlationId: 'c', partitionKey: 'o-1' };
  const ctx = {
    uow: uow as unknown as OrderUnitOfWork,
    envelope,
    item: { envelope, payload, raw: Buffer.alloc(0), headers: {} },
    log,
    now: new Date(),
    emit: (t: string, p: unknown) => out.push({ type: t, payload: p }),
    send: (t: string, p: unknown) => out.push({ type: t, payload: p }),
    afterCommit: () => undefined,
  } as unknown as HandlerContext<OrderUnitOfWork>;
  const h = handlers[type] as unknown as { handle(ctx: HandlerContext<OrderUnitOfWork>, p: unknown): Promise<void> };
  return h.handle(ctx, payload);
}

const id = 'o-1';
const line = { productId: 'p', warehouseId: 'w', quantity: 2 };
const msg = {
  place: ['PlaceOrder', { orderId: id, customerId: 'c', currency: 'EUR', lines: [{ ...line, unitPrice: 500 }] } satisfies Payload<'PlaceOrder'>],
  cancel: ['CancelOrder', { orderId: id }],
  reserved: ['StockReserved', { reservationId: id, orderId: id, lines: [line], expiresAt: new Date().toISOString() }],
  refused: ['StockReservationRejected', { reservationId: id, orderId: id, reason: 'insufficient_stock', lines: [{ ...line, available: 0 }] }],
  captured: ['PaymentCaptured', { orderId: id, amount: 1000, currency: 'EUR', providerRef: 'ch_1' }],
  failed: ['PaymentFailed', { orderId: id, reason: 'card_declined' }],
  committed: ['ReservationCommitted', { reservationId: id, orderId: id, lines: [line] }],
  expired: ['ReservationExpired', { reservationId: id, orderId: id, lines: [line] }],
  released: ['ReservationReleased', { reservationId: id, orderId: id, lines: [line] }],
  commitRefused: ['ReservationTransitionRejected', { reservationId: id, orderId: id, attempted: 'commit', status: 'expired' }],
  refunded: ['PaymentRefunded', { orderId: id, amount: 1000, currency: 'EUR', providerRef: 're_1' }],
} as const;
type Step = keyof typeof msg;

async function run(steps: Step[]) {
  const uow = new MemoryOrders();
  const out: { type: string; payload: unknown }[] = [];
  let n = 0;
  for (const s of steps) await play(uow, out, msg[s][0], msg[s][1], n++);
  const count = (t: string) => out.filter((o) => o.type === t).length;
  return { order: uow.order(id), out, count };
}

describe('order saga rules', () => {
  it('has a handler for every message routed to order-worker', () => {
    expect(Object.keys(handlers).sort()).toEqual([...inputsOf('orders')].sort());
  });

  it('happy path: PENDING → RESERVED → PAID → CONFIRMED, one command per step', async () => {
    const r = await run(['place', 'reserved', 'captured', 'committed']);
    expect(r.order).toMatchObject({ status: 'CONFIRMED', stock: 'committed', payment: 'captured', refund: 'none' });
    expect(r.out.map((o) => o.type)).toEqual(['OrderPlaced', 'ReserveStock', 'RequestPayment', 'CommitReservation', 'OrderConfirmed']);
  });

  it('every message delivered twice in a row (new message ids) changes nothing the second time', async () => {
    const once = await run(['place', 'reserved', 'captured', 'committed', 'cancel']);
    const twice = await run(['place', 'place', 'reserved', 'reserved', 'captured', 'captured', 'committed', 'committed', 'cancel', 'cancel']);
    expect(twice.order).toEqual(once.order);
    // The one exception is by design: every cancel of a confirmed order is answered.
    expect(twice.out.filter((o) => o.type !== 'OrderCancelRejected')).toEqual(once.out.filter((o) => o.type !== 'OrderCancelRejected'));
  });

  // The saga's own order of answers, as inventory and payments produce them after a cancel
  // that lands at position i: the cancel's ReleaseReservation is answered by a release (hold
  // existed) or refused; the payment may still come in.
  const happy: Step[] = ['place', 'reserved', 'captured', 'committed'];
  for (let i = 0; i <= happy.length; i++) {
    it(`cancel after ${i} saga step(s): confirmed and refused, or cancelled with money back`, async () => {
      const steps: Step[] = [...happy.slice(0, i), 'cancel', ...happy.slice(i)];
      const { order, count } = await run(steps);
      if (order!.status === 'CONFIRMED') {
        expect(count('OrderCancelRejected')).toBe(1);
        expect(count('RefundRequested')).toBe(0);
      } else {
        expect(order!.status).toBe('CANCELLED');
        expect(count('OrderConfirmed')).toBe(0);
        // Nothing to release when the cancel came before the order (no ReserveStock was sent).
        expect(count('ReleaseReservation')).toBe(count('ReserveStock'));
        expect(count('RefundRequested')).toBe(order!.payment === 'captured' ? 1 : 0);
      }
    });
  }

  it('expiry before payment: EXPIRED, then the late capture is refunded once', async () => {
    const r = await run(['place', 'reserved', 'expired', 'captured', 'captured', 'committed', 'refunded']);
    expect(r.order).toMatchObject({ status: 'EXPIRED', payment: 'captured', refund: 'refunded' });
    expect(r.count('RefundRequested')).toBe(1);
    expect(r.count('CommitReservation')).toBe(0);
    expect(r.count('OrderConfirmed')).toBe(0);
  });

  it('commit refused because the hold expired: EXPIRED from PAID, with a refund', async () => {
    const r = await run(['place', 'reserved', 'captured', 'expired', 'commitRefused']);
    expect(r.order).toMatchObject({ status: 'EXPIRED', refund: 'requested' });
    expect(r.count('OrderExpired')).toBe(1);
    expect(r.count('RefundRequested')).toBe(1);
  });

  it('payment failure releases the stock and rejects; a late capture after it is refunded', async () => {
    const r = await run(['place', 'reserved', 'failed', 'released', 'captured']);
    expect(r.order).toMatchObject({ status: 'REJECTED', reason: 'payment_failed', stock: 'released', payment: 'captured', refund: 'requested' });
    expect(r.count('ReleaseReservation')).toBe(1);
    expect(r.count('RefundRequested')).toBe(1);
  });

  it('reservation refused: REJECTED with the reason, no payment asked for', async () => {
    const r = await run(['place', 'refused', 'refused', 'cancel']);
    expect(r.order).toMatchObject({ status: 'REJECTED', reason: 'insufficient_stock' });
    expect(r.count('RequestPayment')).toBe(0);
    expect(r.count('OrderRejected')).toBe(1);
    expect(r.count('OrderCancelRejected')).toBe(1);
  });

  it('cancel before the order: the id is burned and the late PlaceOrder does nothing', async () => {
    const r = await run(['cancel', 'place']);
    expect(r.order).toMatchObject({ status: 'CANCELLED', customerId: null });
    expect(r.out.map((o) => o.type)).toEqual(['OrderCancelled']);
  });
});
