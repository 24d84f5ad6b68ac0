import { newMessageId, ResendBackoff, sendCommand, type Component, type Runtime } from '@stockflow/shared';
import type { ExpirySchedule } from './expiry-schedule';

/**
 * Two ways a due hold gets its ExpireReservation, sent through the reservation's partition:
 * - the Redis schedule, checked every EXPIRY_POLL_MS (timely);
 * - a Postgres sweep of held reservations overdue by more than EXPIRY_SWEEP_GRACE_MS, every
 *   EXPIRY_SWEEP_MS (the safety net: it works with an empty or flushed Redis).
 * Sending twice is harmless: the handler is idempotent by the reservation's state. Sending
 * again and again is not: every ExpireReservation is a transaction of its own, and under a
 * backlog a hold stays `held` (and overdue) until its queued expiry is applied. A flood showed
 * the sweep re-sending the same 500 oldest holds every pass, a third of the partition traffic.
 * So each hold is sent again only after a backoff (RESEND_FIRST_MS, doubling up to
 * RESEND_MAX_MS), and the sweep pages through the overdue holds instead of rereading the
 * oldest 500.
 */
const RESEND_FIRST_MS = 30_000;
const RESEND_MAX_MS = 600_000;
const SWEEP_PAGE = 500;

export class ExpiryScheduler implements Component {
  readonly name = 'expiry scheduler';
  private timers: NodeJS.Timeout[] = [];
  private busy = { schedule: false, sweep: false };
  /** Only the sweep's sends: the Redis path sends each hold once by itself (takeDue removes it). */
  private readonly resend: ResendBackoff;
  private cursor: { expiresAt: Date; id: string } | undefined;

  constructor(
    private readonly rt: Runtime,
    private readonly schedule: ExpirySchedule,
    private readonly opts: { pollMs: number; sweepMs: number; sweepGraceMs: number },
  ) {
    this.resend = new ResendBackoff({ firstMs: Math.max(RESEND_FIRST_MS, 10 * opts.sweepMs), maxMs: RESEND_MAX_MS });
  }

  async start(): Promise<void> {
    if (this.timers.length > 0) return;
    this.timers.push(setInterval(() => void this.guard('schedule', () => this.fromSchedule()), this.opts.pollMs));
    this.timers.push(setInterval(() => void this.guard('sweep', () => this.sweep()), this.opts.sweepMs));
  }

  async stop(): Promise<void> {
    this.timers.forEach(clearInterval);
    this.timers = [];
  }

  private async guard(kind: 'schedule' | 'sweep', fn: () => Promise<unknown>): Promise<void> {
    if (this.busy[kind]) return;
    this.busy[kind] = true;
    try {
      await fn();
    } catch (err) {
      this.rt.log.warn({ err: (err as Error).message, kind }, 'reservation expiry pass failed');
    } finally {
      this.busy[kind] = false;
    }
  }

  async fromSchedule(): Promise<number> {
    const ids = await this.schedule.takeDue(Date.now(), 200);
    for (const id of ids) {
      try {
        await this.send(id, 'redis');
      } catch (err) {
        // Put it back; the next pass (or the sweep) tries again.
        await this.schedule.add(id, new Date()).catch(() => undefined);
        throw err;
      }
    }
    return ids.length;
  }

  /** One page of overdue holds (continuing where the last pass stopped); returns how many it sent. */
  async sweep(): Promise<number> {
    const rows = await this.rt.db.query<{ id: string; expires_at: Date }>(
      `SELECT id, expires_at FROM inventory.reservation
       WHERE status = 'held' AND expires_at < now() - make_interval(secs => $1::double precision / 1000)
         AND ($2::timestamptz IS NULL OR (expires_at, id) > ($2::timestamptz, $3::text))
       ORDER BY expires_at, id LIMIT ${SWEEP_PAGE}`,
      [this.opts.sweepGraceMs, this.cursor?.expiresAt ?? null, this.cursor?.id ?? null],
    );
    const last = rows[rows.length - 1];
    this.cursor = rows.length === SWEEP_PAGE && last ? { expiresAt: last.expires_at, id: last.id } : undefined;
    const now = Date.now();
    this.resend.prune(now);
    let sent = 0;
    for (const r of rows) {
      if (!this.resend.due(r.id, now)) continue;
      await this.send(r.id, 'sweep');
      sent++;
    }
    if (sent > 0) this.rt.log.info({ count: sent, overduePage: rows.length }, 'sweep found overdue reservations');
    return sent;
  }

  private async send(reservationId: string, source: 'redis' | 'sweep'): Promise<void> {
    await sendCommand(this.rt, 'ExpireReservation', { reservationId }, { messageId: `expire-${reservationId}-${newMessageId()}`, correlationId: reservationId });
    this.rt.metrics.reservationExpiries.inc({ source });
    // Remembering every Redis-path expiry would cost memory at high rates.
    if (source === 'sweep') this.resend.record(reservationId, Date.now());
  }
}
