import { assertDeclared, lockInOrder, type Tx, type UnitOfWork, writeAllOrRetry } from '@stockflow/shared';

export type PaymentStatus = 'pending' | 'captured' | 'failed' | 'refunded';

/** The hot path's view of a payment row: the amount as a number, timestamps left to SQL. */
export interface PaymentRow {
  orderId: string;
  idempotencyKey: string;
  amount: number;
  currency: string;
  status: PaymentStatus;
  providerRef: string | null;
  failureReason: string | null;
  refundRef: string | null;
  source: 'request' | 'webhook' | 'refund';
  version: number;
}

interface WebhookEventRow {
  eventId: string;
  type: string;
  orderId: string;
  messageId: string;
}

interface DbPayment {
  order_id: string;
  idempotency_key: string;
  amount: string;
  currency: string;
  status: PaymentStatus;
  provider_ref: string | null;
  failure_reason: string | null;
  refund_ref: string | null;
  source: PaymentRow['source'];
  version: number;
}

/**
 * One transaction's view of payments: payment rows locked sorted by order id (the one lock
 * order of this schema), plus which webhook event ids were seen already. A webhook and the
 * charge call for the same order therefore take turns on the same row, and only the first
 * to move it out of `pending` emits the outcome event.
 *
 * New rows (payments, webhook events) are inserted at flush with ON CONFLICT DO NOTHING; a
 * conflict means a concurrent consumer got there first, and the retried transaction sees it.
 */
export class PaymentUnitOfWork implements UnitOfWork {
  private readonly wantPayments = new Set<string>();
  private readonly wantEvents = new Set<string>();
  private readonly payments = new Map<string, PaymentRow>();
  private readonly loadedVersion = new Map<string, number>();
  private readonly created = new Set<string>();
  private readonly traceParents = new Map<string, string>();
  private readonly dirty = new Set<string>();
  private readonly seenEvents = new Set<string>();
  private readonly newEvents = new Map<string, WebhookEventRow>();
  private loaded = false;

  constructor(private readonly tx: Tx) {}

  needPayment(orderId: string): void {
    this.wantPayments.add(orderId);
  }

  needWebhookEvent(eventId: string): void {
    this.wantEvents.add(eventId);
  }

  async load(): Promise<void> {
    const locked = lockInOrder<DbPayment>(this.tx, {
      table: 'payments.payment',
      columns: ['order_id'],
      types: ['text'],
      keys: [...this.wantPayments].map((id) => [id]),
      select: 't.order_id, t.idempotency_key, t.amount, t.currency, t.status, t.provider_ref, t.failure_reason, t.refund_ref, t.source, t.version',
    });
    // Sent behind the locks in the same round trip (Tx.query pipelines); Postgres runs it once
    // they are held, so it sees what a previous holder committed.
    const seen = this.wantEvents.size > 0 ? this.tx.query<{ event_id: string }>('SELECT event_id FROM payments.webhook_event WHERE event_id = ANY($1::text[])', [[...this.wantEvents]]) : Promise.resolve([]);
    seen.catch(() => undefined);
    for (const r of await locked) {
      this.payments.set(r.order_id, {
        orderId: r.order_id,
        idempotencyKey: r.idempotency_key,
        amount: Number(r.amount),
        currency: r.currency,
        status: r.status,
        providerRef: r.provider_ref,
        failureReason: r.failure_reason,
        refundRef: r.refund_ref,
        source: r.source,
        version: r.version,
      });
      this.loadedVersion.set(r.order_id, r.version);
    }
    for (const r of await seen) this.seenEvents.add(r.event_id);
    this.loaded = true;
  }

  payment(orderId: string): PaymentRow | undefined {
    assertDeclared(this.loaded, `payment ${orderId}`, this.wantPayments.has(orderId));
    return this.payments.get(orderId);
  }

  /** True when this webhook event id was applied before (or earlier in this transaction). */
  webhookSeen(eventId: string): boolean {
    assertDeclared(this.loaded, `webhook event ${eventId}`, this.wantEvents.has(eventId));
    return this.seenEvents.has(eventId) || this.newEvents.has(eventId);
  }

  recordWebhook(e: WebhookEventRow): void {
    this.newEvents.set(e.eventId, e);
  }

  /** A new payment row; `traceParent` is the trace its webhook will continue (written once, never read here). */
  create(row: Omit<PaymentRow, 'version'>, traceParent?: string): PaymentRow {
    const full = { ...row, version: 0 };
    this.payments.set(row.orderId, full);
    this.created.add(row.orderId);
    if (traceParent !== undefined) this.traceParents.set(row.orderId, traceParent);
    return full;
  }

  touch(row: PaymentRow): void {
    if (!this.created.has(row.orderId)) this.dirty.add(row.orderId);
  }

  /**
   * Every write here is checked (new rows must all be new, updates must find their version), so
   * they go in one round trip and are awaited: a shortfall fails the transaction before COMMIT is sent.
   */
  async flush(): Promise<void> {
    const created = [...this.created].sort().map((id) => this.payments.get(id)!);
    const inserted = writeAllOrRetry(this.tx, {
      sql: `INSERT INTO payments.payment (order_id, idempotency_key, amount, currency, status, provider_ref, failure_reason, refund_ref, source, trace_parent)
            SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
            ON CONFLICT DO NOTHING`,
      rows: created,
      values: (r) => [r.orderId, r.idempotencyKey, r.amount, r.currency, r.status, r.providerRef, r.failureReason, r.refundRef, r.source, this.traceParents.get(r.orderId) ?? null],
      shortfall: 'a payment was created concurrently by another consumer; retrying to apply on top of it',
    });
    const dirty = [...this.dirty].map((id) => this.payments.get(id)!);
    for (const r of dirty) r.version = this.loadedVersion.get(r.orderId)! + 1;
    const updated = writeAllOrRetry(this.tx, {
      sql: `UPDATE payments.payment p
            SET status = v.status, amount = v.amount, currency = v.currency, provider_ref = v.provider_ref, failure_reason = v.failure_reason, refund_ref = v.refund_ref, version = v.version, updated_at = now()
            FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[]) AS v(order_id, status, amount, currency, provider_ref, failure_reason, refund_ref, version)
            WHERE p.order_id = v.order_id AND p.version = v.version - 1`,
      rows: dirty,
      values: (r) => [r.orderId, r.status, r.amount, r.currency, r.providerRef, r.failureReason, r.refundRef, r.version],
      shortfall: 'a payment changed under this transaction (version conflict); retrying',
    });
    updated.catch(() => undefined);
    const events = [...this.newEvents.values()].sort((a, b) => (a.eventId < b.eventId ? -1 : 1));
    const recorded = writeAllOrRetry(this.tx, {
      sql: `INSERT INTO payments.webhook_event (event_id, type, order_id, message_id)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
            ON CONFLICT DO NOTHING`,
      rows: events,
      values: (e) => [e.eventId, e.type, e.orderId, e.messageId],
      shortfall: 'a webhook event was recorded concurrently; retrying to see it as a duplicate',
    });
    recorded.catch(() => undefined);
    await inserted;
    await updated;
    await recorded;
  }
}
