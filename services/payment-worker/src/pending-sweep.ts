import { contracts, newMessageId, propertiesOf, routeOf, type Component, type Runtime } from '@stockflow/shared';

const SWEEP_PAGE = 200;
const RESEND_MAX_MS = 3_600_000;

/**
 * The safety net under asynchronous captures: a payment still `pending` PENDING_RECONCILE_AFTER_MS
 * after the provider's last word gets a ReconcilePayment through its order's partition, whose
 * handler asks the provider and settles the row. The webhook stays the fast path; this only
 * catches the ones that never come. Every instance sweeps (sending twice costs a provider GET,
 * never a second outcome); an order still pending after a lookup (the provider has not decided)
 * is asked again after a backoff that doubles up to an hour, and the sweep pages on through
 * the pending payments instead of rereading the oldest page.
 */
export class PendingSweep implements Component {
  readonly name = 'pending-charge sweep';
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private readonly sent = new Map<string, { at: number; backoffMs: number }>();
  private cursor: { updatedAt: Date; orderId: string } | undefined;

  constructor(
    private readonly rt: Runtime,
    private readonly opts: { sweepMs: number; afterMs: number },
  ) {}

  async start(): Promise<void> {
    if (this.timer || this.opts.sweepMs === 0) return;
    this.timer = setInterval(() => void this.pass(), this.opts.sweepMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async pass(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.sweep();
    } catch (err) {
      this.rt.log.warn({ err: (err as Error).message }, 'pending-charge sweep failed; next pass tries again');
    } finally {
      this.busy = false;
    }
  }

  /** One page of long-pending payments; returns how many it sent a ReconcilePayment for. */
  async sweep(): Promise<number> {
    const rows = await this.rt.db.query<{ order_id: string; updated_at: Date }>(
      `SELECT order_id, updated_at FROM payments.payment
       WHERE status = 'pending' AND updated_at < now() - make_interval(secs => $1::double precision / 1000)
         AND ($2::timestamptz IS NULL OR (updated_at, order_id) > ($2::timestamptz, $3::text))
       ORDER BY updated_at, order_id LIMIT ${SWEEP_PAGE}`,
      [this.opts.afterMs, this.cursor?.updatedAt ?? null, this.cursor?.orderId ?? null],
    );
    const last = rows[rows.length - 1];
    this.cursor = rows.length === SWEEP_PAGE && last ? { updatedAt: last.updated_at, orderId: last.order_id } : undefined;
    const now = Date.now();
    for (const [id, s] of this.sent) if (now > s.at + 2 * s.backoffMs) this.sent.delete(id);
    let sent = 0;
    for (const r of rows) {
      const before = this.sent.get(r.order_id);
      if (before && now < before.at + before.backoffMs) continue;
      await this.send(r.order_id);
      this.rt.metrics.paymentReconciliations.inc();
      this.sent.set(r.order_id, { at: now, backoffMs: before ? Math.min(before.backoffMs * 2, RESEND_MAX_MS) : Math.max(this.opts.afterMs, 10 * this.opts.sweepMs) });
      sent++;
    }
    if (sent > 0) this.rt.log.info({ count: sent, pendingPage: rows.length }, 'asking the provider about long-pending charges');
    return sent;
  }

  private async send(orderId: string): Promise<void> {
    const route = routeOf(this.rt.topology, 'ReconcilePayment', orderId);
    const envelope = {
      messageId: `reconcile-${newMessageId()}-${orderId}`.slice(0, 200),
      type: 'ReconcilePayment' as const,
      version: contracts.ReconcilePayment.version,
      occurredAt: new Date().toISOString(),
      correlationId: `order-${orderId}`.slice(0, 200),
      partitionKey: orderId,
    };
    await this.rt.publisher.publish(route.exchange, route.routingKey, Buffer.from(JSON.stringify({ orderId })), { ...propertiesOf(envelope), mandatory: true });
  }
}
