import type { Publisher, Worker, UnitOfWork, WorkerOptions } from '@stockflow/shared';
import { ProviderSimulator, type Behaviour } from '@stockflow/testkit/provider-simulator/index';
import { eventually, startInventory, startOrders, startPayments, TEST_WEBHOOK_SECRET as WEBHOOK_SECRET, TestEnv, type EventTap } from '../support';

export { WEBHOOK_SECRET };

export const SKU = 'sku-1';
export const WH = 'wh-1';
export const PRICE = 1250;
const TERMINAL = ['CONFIRMED', 'REJECTED', 'CANCELLED', 'EXPIRED'];

export interface SagaOptions {
  inventory?: Record<string, string | number>;
  orders?: Record<string, string | number>;
  payments?: Record<string, string | number>;
  provider?: Partial<Behaviour>;
  /** Test seams of payment-worker's pipeline (a failure injected inside its transaction). */
  paymentHooks?: WorkerOptions['testHooks'];
  /** Start the order and payment workers here (false: the test runs them as child processes). */
  workers?: { orders?: boolean; payments?: boolean };
}

/**
 * The whole saga on real services: inventory, order and payment workers in this process, a
 * provider simulator on a free port (webhooks pointed at payment-worker's gateway), an event
 * tap and a publisher, all in one TestEnv.
 */
export class Saga {
  readonly workers: Worker<UnitOfWork>[] = [];
  payments: Worker<UnitOfWork> | undefined;

  private constructor(
    readonly env: TestEnv,
    readonly sim: ProviderSimulator,
    readonly tap: EventTap,
    readonly pub: Publisher,
  ) {}

  static async start(label: string, opts: SagaOptions = {}): Promise<Saga> {
    const env = await TestEnv.create(label);
    const sim = new ProviderSimulator({ port: 0, webhookSecret: WEBHOOK_SECRET, behaviour: opts.provider, log: (line) => env.log.info({ provider: line }) });
    await sim.start();
    const workers: Worker<UnitOfWork>[] = [await startInventory(env, opts.inventory)];
    if (opts.workers?.orders !== false) workers.push(await startOrders(env, opts.orders));
    let payments: Worker<UnitOfWork> | undefined;
    if (opts.workers?.payments !== false) {
      payments = await startPayments(env, { ...paymentEnv(sim), HTTP_PORT: 0, ...opts.payments }, { testHooks: opts.paymentHooks });
      workers.push(payments);
      sim.configure({ webhookUrl: `http://127.0.0.1:${payments.httpPort}/webhooks/provider` });
    }
    const tap = await env.tap();
    const pub = await env.publisher();
    const saga = new Saga(env, sim, tap, pub);
    saga.workers.push(...workers);
    saga.payments = payments;
    return saga;
  }

  /** Registers the warehouse and receives `quantity` of SKU, waiting until it is applied. */
  async stockUp(quantity: number, productId = SKU): Promise<void> {
    await this.pub.send('RegisterWarehouse', { warehouseId: WH, name: 'Main' }, { messageId: `wh-${WH}` });
    // Different partition keys, so no order between the two unless we wait.
    await this.tap.waitFor((events) => events.some((e) => e.type === 'WarehouseRegistered'));
    await this.pub.send('ReceiveStock', { productId, warehouseId: WH, quantity }, { messageId: `receive-${productId}-${quantity}` });
    await this.tap.waitFor((events) => events.some((e) => e.type === 'StockReceived' && e.payload.productId === productId));
  }

  placeOrder(orderId: string, opts: { quantity?: number; ttlMs?: number; messageId?: string; productId?: string } = {}) {
    return this.pub.send(
      'PlaceOrder',
      {
        orderId,
        customerId: `cust-${orderId}`,
        currency: 'EUR',
        lines: [{ productId: opts.productId ?? SKU, warehouseId: WH, quantity: opts.quantity ?? 1, unitPrice: PRICE }],
        reservationTtlMs: opts.ttlMs,
      },
      { messageId: opts.messageId ?? `place-${orderId}` },
    );
  }

  cancelOrder(orderId: string, messageId = `cancel-${orderId}`) {
    return this.pub.send('CancelOrder', { orderId, reason: 'customer_request', note: 'customer changed their mind' }, { messageId });
  }

  async orders(ids?: string[]): Promise<OrderView[]> {
    const rows = await this.env.query<OrderView & { amount: string }>(
      `SELECT id, status, reason, stock_status, payment_status, refund_status, amount FROM orders.orders ${ids ? 'WHERE id = ANY($1::text[])' : ''} ORDER BY id`,
      ids ? [ids] : [],
    );
    return rows.map((r) => ({ ...r, amount: Number(r.amount) }));
  }

  async order(id: string): Promise<OrderView | undefined> {
    return (await this.orders([id]))[0];
  }

  async waitForStatus(id: string, status: string, timeoutMs = 30_000): Promise<OrderView> {
    return eventually(async () => {
      const o = await this.order(id);
      expect(o?.status).toBe(status);
      return o!;
    }, timeoutMs);
  }

  /**
   * Quiescence: every order terminal, its stock hold and its payment settled (no release,
   * reservation answer or payment outcome still on its way), no refund pending, every outbox
   * empty, and no webhook in flight at the provider.
   */
  async settle(ids: string[], timeoutMs = 45_000): Promise<OrderView[]> {
    return eventually(async () => {
      await this.sim.webhooksIdle();
      const rows = await this.orders(ids);
      expect(rows.map((r) => r.id)).toEqual([...ids].sort());
      const open = rows.filter(
        (r) => !TERMINAL.includes(r.status) || ['requested', 'held'].includes(r.stock_status) || r.payment_status === 'requested' || r.refund_status === 'requested',
      );
      expect(open).toEqual([]);
      const [{ n }] = await this.env.query<{ n: string }>(
        `SELECT (SELECT count(*) FROM inventory.outbox) + (SELECT count(*) FROM orders.outbox) + (SELECT count(*) FROM payments.outbox) AS n`,
      ) as [{ n: string }];
      expect(Number(n)).toBe(0);
      return rows;
    }, timeoutMs, 200);
  }

  /** Waits until the order worker has committed these messages (they are in its inbox). */
  async processed(messageIds: string[], timeoutMs = 30_000): Promise<void> {
    await eventually(async () => {
      const rows = await this.env.query<{ message_id: string }>('SELECT message_id FROM orders.inbox WHERE message_id = ANY($1::text[])', [messageIds]);
      expect(rows.length).toBe(new Set(messageIds).size);
    }, timeoutMs, 200);
  }

  async stock(productId = SKU): Promise<{ on_hand: number; reserved: number }> {
    const [row] = await this.env.query<{ on_hand: number; reserved: number }>('SELECT on_hand, reserved FROM inventory.stock WHERE product_id = $1 AND warehouse_id = $2', [productId, WH]);
    return row!;
  }

  async reservations(ids: string[]): Promise<Map<string, string>> {
    const rows = await this.env.query<{ id: string; status: string }>('SELECT id, status FROM inventory.reservation WHERE id = ANY($1::text[])', [ids]);
    return new Map(rows.map((r) => [r.id, r.status]));
  }

  /** Distinct events of a type for one order (the relay is at-least-once; ids are stable). */
  eventsFor(type: string, orderId: string) {
    return this.tap.distinct(type).filter((e) => e.payload.orderId === orderId);
  }

  /**
   * The invariants every test ends with, from three witnesses (database, events, provider):
   * CONFIRMED ⇔ one captured charge kept in full and a committed reservation; any other
   * terminal status ⇒ net charge 0 and no held stock; at most one outcome event per order.
   */
  async assertConsistent(ids: string[]): Promise<OrderView[]> {
    const rows = await this.settle(ids);
    const reservations = await this.reservations(ids);
    const ledger = this.sim.snapshot();
    for (const o of rows) {
      const charges = ledger.charges.filter((c) => c.orderId === o.id);
      const net = this.sim.netCharged(o.id);
      const context = { order: o, charges, reservation: reservations.get(o.id) };
      expect({ ...context, ok: charges.length <= 1 }).toMatchObject({ ok: true });
      if (o.status === 'CONFIRMED') {
        expect({ ...context, net, reservation: reservations.get(o.id) }).toMatchObject({ net: o.amount, reservation: 'committed' });
        expect(this.eventsFor('OrderConfirmed', o.id)).toHaveLength(1);
      } else {
        expect({ ...context, net }).toMatchObject({ net: 0 });
        expect(reservations.get(o.id)).not.toBe('held');
        expect(this.eventsFor('OrderConfirmed', o.id)).toHaveLength(0);
      }
      expect(this.eventsFor('PaymentCaptured', o.id).length).toBeLessThanOrEqual(1);
      expect(this.eventsFor('RefundRequested', o.id).length).toBeLessThanOrEqual(1);
      expect(this.eventsFor('PaymentRefunded', o.id).length).toBeLessThanOrEqual(1);
    }
    return rows;
  }

  async stop(): Promise<void> {
    for (const w of [...this.workers].reverse()) await w.stop().catch(() => undefined);
    await this.sim.stop();
    await this.env.cleanup();
  }
}

export interface OrderView {
  id: string;
  status: string;
  reason: string | null;
  stock_status: string;
  payment_status: string;
  refund_status: string;
  amount: number;
}

export function paymentEnv(sim: ProviderSimulator): Record<string, string | number> {
  return { PROVIDER_URL: sim.url, WEBHOOK_SECRET, PROVIDER_TIMEOUT_MS: 2_000, PROVIDER_RETRY_BASE_MS: 50, PROVIDER_RETRY_MAX_MS: 500 };
}

/** One provider call times out after this; with HANGING_PROVIDER_ATTEMPTS of them a processing round lasts 40 s or more. */
export const HANGING_PROVIDER_TIMEOUT_MS = 2_000;
const HANGING_PROVIDER_ATTEMPTS = 20;

/**
 * A saga whose payment workers give a provider that hangs (Saga.sim.timeOut) a long round of
 * short attempts; its stop lets the provider answer first, so a batch still retrying then ends
 * within one attempt.
 */
export async function startWithHangingProvider(label: string, stock: number): Promise<{ saga: Saga; paymentEnv: Record<string, number>; stop: () => Promise<void> }> {
  const env = { PROVIDER_TIMEOUT_MS: HANGING_PROVIDER_TIMEOUT_MS, PROVIDER_MAX_ATTEMPTS: HANGING_PROVIDER_ATTEMPTS, PROVIDER_RETRY_BASE_MS: 50, PROVIDER_RETRY_MAX_MS: 100 };
  // Longer than the client's timeout, and short: a hung request keeps the simulator's stop waiting.
  const saga = await Saga.start(label, { payments: env, provider: { hangMs: 3 * HANGING_PROVIDER_TIMEOUT_MS } });
  await saga.stockUp(stock);
  const stop = async () => {
    saga.sim.configure({ timeouts: {} });
    await saga.stop();
  };
  return { saga, paymentEnv: env, stop };
}

export function ids(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
}
