import { assertDeclared, type Envelope, lockInOrder, type orders, type Tx, type UnitOfWork, unnestArrays, writeAllOrRetry } from '@stockflow/shared';

export type OrderStatus = orders.OrderStatus;
export type OrderLine = orders.OrderLine;
/** What the order knows about its reservation (mirrors inventory's events, in their order). */
export type StockStatus = 'none' | 'requested' | 'held' | 'committed' | 'released' | 'expired' | 'rejected';
export type PaymentStatus = 'none' | 'requested' | 'captured' | 'failed';
export type RefundStatus = 'none' | 'requested' | 'refunded';

export interface OrderRow {
  id: string;
  customerId: string | null;
  currency: string | null;
  amount: number;
  lines: OrderLine[];
  status: OrderStatus;
  reason: string | null;
  reservationTtlMs: number | null;
  stock: StockStatus;
  payment: PaymentStatus;
  capturedAmount: number | null;
  capturedCurrency: string | null;
  providerRef: string | null;
  refund: RefundStatus;
  version: number;
}

interface TransitionRow {
  orderId: string;
  from: OrderStatus | null;
  to: OrderStatus;
  reason: string | null;
  messageId: string;
  messageType: string;
}

interface DbOrder {
  id: string;
  customer_id: string | null;
  currency: string | null;
  amount: string;
  lines: OrderLine[];
  status: OrderStatus;
  reason: string | null;
  reservation_ttl_ms: number | null;
  stock_status: StockStatus;
  payment_status: PaymentStatus;
  captured_amount: string | null;
  captured_currency: string | null;
  provider_ref: string | null;
  refund_status: RefundStatus;
  version: number;
}

/**
 * One transaction's view of the orders it touches. Handlers declare order ids; load() locks
 * those rows sorted by id (the one lock order of this schema); handlers change the in-memory
 * copies; flush() writes them in bulk with absolute values and a bumped version.
 *
 * New orders are inserted at flush with ON CONFLICT DO NOTHING. Messages of one order share a
 * partition, so a conflict means another consumer (a stale one during a hand-over) created the
 * same order concurrently: the transaction is retried and then finds the row.
 */
export class OrderUnitOfWork implements UnitOfWork {
  private readonly wanted = new Set<string>();
  private readonly rows = new Map<string, OrderRow>();
  private readonly loadedVersion = new Map<string, number>();
  private readonly created = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly transitions: TransitionRow[] = [];
  private loaded = false;

  constructor(private readonly tx: Tx) {}

  needOrder(id: string): void {
    this.wanted.add(id);
  }

  async load(): Promise<void> {
    const rows = await lockInOrder<DbOrder>(this.tx, {
      table: 'orders.orders',
      columns: ['id'],
      types: ['text'],
      keys: [...this.wanted].map((id) => [id]),
      select: 't.id, t.customer_id, t.currency, t.amount, t.lines, t.status, t.reason, t.reservation_ttl_ms, t.stock_status, t.payment_status, t.captured_amount, t.captured_currency, t.provider_ref, t.refund_status, t.version',
    });
    for (const r of rows) {
      this.rows.set(r.id, {
        id: r.id,
        customerId: r.customer_id,
        currency: r.currency,
        amount: Number(r.amount),
        lines: r.lines,
        status: r.status,
        reason: r.reason,
        reservationTtlMs: r.reservation_ttl_ms,
        stock: r.stock_status,
        payment: r.payment_status,
        capturedAmount: r.captured_amount === null ? null : Number(r.captured_amount),
        capturedCurrency: r.captured_currency,
        providerRef: r.provider_ref,
        refund: r.refund_status,
        version: r.version,
      });
      this.loadedVersion.set(r.id, r.version);
    }
    this.loaded = true;
  }

  order(id: string): OrderRow | undefined {
    assertDeclared(this.loaded, `order ${id}`, this.wanted.has(id));
    return this.rows.get(id);
  }

  create(row: Omit<OrderRow, 'version'>, env: Envelope): OrderRow {
    const full: OrderRow = { ...row, version: 0 };
    this.rows.set(row.id, full);
    this.created.add(row.id);
    this.log(full, null, full.status, full.reason, env);
    return full;
  }

  /** Marks an order changed (facts such as stock or payment status). */
  touch(row: OrderRow): void {
    if (!this.created.has(row.id)) this.dirty.add(row.id);
  }

  /** Moves an order to another status and records the transition. */
  transition(row: OrderRow, to: OrderStatus, reason: string | null, env: Envelope): void {
    const from = row.status;
    row.status = to;
    if (reason !== null) row.reason = reason;
    this.touch(row);
    this.log(row, from, to, reason, env);
  }

  private log(row: OrderRow, from: OrderStatus | null, to: OrderStatus, reason: string | null, env: Envelope): void {
    this.transitions.push({ orderId: row.id, from, to, reason, messageId: env.messageId, messageType: env.type });
  }

  /**
   * The checked writes (new orders, versioned updates) go in one round trip and are awaited, so a
   * shortfall fails the transaction before COMMIT is sent; the transition log needs no check and
   * is queued (Tx.write) to reach Postgres with the outbox rows and COMMIT.
   */
  async flush(): Promise<void> {
    const created = [...this.created].sort().map((id) => this.rows.get(id)!);
    const inserted = writeAllOrRetry(this.tx, {
      sql: `INSERT INTO orders.orders (id, customer_id, currency, amount, lines, status, reason, reservation_ttl_ms, stock_status, payment_status, captured_amount, provider_ref, refund_status, captured_currency)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::jsonb[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[], $11::bigint[], $12::text[], $13::text[], $14::text[])
            ON CONFLICT (id) DO NOTHING`,
      rows: created,
      values: (r) => [r.id, r.customerId, r.currency, r.amount, JSON.stringify(r.lines), r.status, r.reason, r.reservationTtlMs, r.stock, r.payment, r.capturedAmount, r.providerRef, r.refund, r.capturedCurrency],
      shortfall: 'an order was created concurrently by another consumer; retrying to apply on top of it',
    });
    const dirty = [...this.dirty].map((id) => this.rows.get(id)!);
    for (const r of dirty) r.version = this.loadedVersion.get(r.id)! + 1;
    const updated = writeAllOrRetry(this.tx, {
      sql: `UPDATE orders.orders o
            SET currency = v.currency, status = v.status, reason = v.reason, stock_status = v.stock_status, payment_status = v.payment_status,
                captured_amount = v.captured_amount, captured_currency = v.captured_currency, provider_ref = v.provider_ref, refund_status = v.refund_status, version = v.version, updated_at = now()
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::int[], $11::text[])
              AS v(id, currency, status, reason, stock_status, payment_status, captured_amount, provider_ref, refund_status, version, captured_currency)
            WHERE o.id = v.id AND o.version = v.version - 1`,
      rows: dirty,
      values: (r) => [r.id, r.currency, r.status, r.reason, r.stock, r.payment, r.capturedAmount, r.providerRef, r.refund, r.version, r.capturedCurrency],
      shortfall: 'an order changed under this transaction (version conflict); retrying',
    });
    updated.catch(() => undefined);
    if (this.transitions.length > 0) {
      this.tx.write(
        `INSERT INTO orders.order_transition (order_id, from_status, to_status, reason, message_id, message_type)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
        unnestArrays(this.transitions, (t) => [t.orderId, t.from, t.to, t.reason, t.messageId, t.messageType]),
      );
    }
    await inserted;
    await updated;
  }
}
