import { newMessageId, OverdueSweep, sendCommand, type Component, type Runtime } from '@stockflow/shared';

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
  private readonly overdue: OverdueSweep<{ order_id: string; updated_at: Date; trace_parent: string | null }>;

  constructor(
    private readonly rt: Runtime,
    private readonly opts: { sweepMs: number; afterMs: number },
  ) {
    this.overdue = new OverdueSweep({
      page: SWEEP_PAGE,
      resend: { firstMs: Math.max(opts.afterMs, 10 * opts.sweepMs), maxMs: RESEND_MAX_MS },
      keyOf: (r) => ({ at: r.updated_at, id: r.order_id }),
      read: (after, limit) =>
        rt.db.query(
          `SELECT order_id, updated_at, trace_parent FROM payments.payment
           WHERE status = 'pending' AND updated_at < now() - make_interval(secs => $1::double precision / 1000)
             AND ($2::timestamptz IS NULL OR (updated_at, order_id) > ($2::timestamptz, $3::text))
           ORDER BY updated_at, order_id LIMIT ${limit}`,
          [opts.afterMs, after?.at ?? null, after?.id ?? null],
        ),
      send: async (r) => {
        await sendCommand(rt, 'ReconcilePayment', { orderId: r.order_id }, { messageId: `reconcile-${newMessageId()}-${r.order_id}`.slice(0, 200), correlationId: `order-${r.order_id}`.slice(0, 200), traceParent: r.trace_parent });
        rt.metrics.paymentReconciliations.inc();
      },
    });
  }

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
    const { read, sent } = await this.overdue.pass();
    if (sent > 0) this.rt.log.info({ count: sent, pendingPage: read }, 'asking the provider about long-pending charges');
    return sent;
  }
}
