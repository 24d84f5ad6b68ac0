import { ResendBackoff } from '../util/resend-backoff';

/** A row's place in the sweep's order: when it became due, then its id. */
export interface SweepKey {
  at: Date;
  id: string;
}

export interface OverdueSweepOptions<R> {
  /** Rows per pass. */
  page: number;
  /** The next `limit` overdue rows after `after` (all from the start when undefined), in (at, id) order. */
  read(after: SweepKey | undefined, limit: number): Promise<R[]>;
  keyOf(row: R): SweepKey;
  /** Sends the row's command; a throw ends the pass (the next one tries again). */
  send(row: R): Promise<void>;
  /** When the same row may be sent again (ResendBackoff). */
  resend: { firstMs: number; maxMs: number };
}

/**
 * The safety-net sweep of a worker's own rows that are overdue for a command (held
 * reservations past their expiry, charges pending past the reconcile delay): one page per pass,
 * continuing where the last pass stopped (keyset on (at, id)) rather than rereading the oldest
 * page, and each row sent again only after a backoff, since every send is a transaction (and
 * maybe a provider call) of its own and a row stays overdue until its command is applied.
 */
export class OverdueSweep<R> {
  private cursor: SweepKey | undefined;
  private readonly resend: ResendBackoff;

  constructor(private readonly opts: OverdueSweepOptions<R>) {
    this.resend = new ResendBackoff(opts.resend);
  }

  /** One page; how many rows it read and how many it sent a command for. */
  async pass(): Promise<{ read: number; sent: number }> {
    const rows = await this.opts.read(this.cursor, this.opts.page);
    const last = rows[rows.length - 1];
    this.cursor = rows.length === this.opts.page && last ? this.opts.keyOf(last) : undefined;
    const now = Date.now();
    this.resend.prune(now);
    let sent = 0;
    for (const r of rows) {
      const { id } = this.opts.keyOf(r);
      if (!this.resend.due(id, now)) continue;
      await this.opts.send(r);
      this.resend.record(id, now);
      sent++;
    }
    return { read: rows.length, sent };
  }
}
