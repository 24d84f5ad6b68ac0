import { newMessageId, OverdueSweep, sendCommand, type Component, type Runtime } from '@stockflow/shared';
import type { ExpirySchedule } from './expiry-schedule';

/**
 * Two ways a due hold gets its ExpireReservation, sent through the reservation's partition:
 * - the Redis schedule, checked every EXPIRY_POLL_MS (timely);
 * - a Postgres sweep of held reservations overdue by more than EXPIRY_SWEEP_GRACE_MS, every
 *   EXPIRY_SWEEP_MS (the safety net: it works with an empty or flushed Redis).
 * Sending twice is harmless: the handler is idempotent by the reservation's state. Sending
 * again and again is not: every ExpireReservation is a transaction of its own, and under a
 * backlog a hold stays `held` (and overdue) until its queued expiry is applied. So the sweep
 * (OverdueSweep) pages through the overdue holds and sends each again only after a backoff
 * (RESEND_FIRST_MS, doubling up to RESEND_MAX_MS).
 */
const RESEND_FIRST_MS = 30_000;
const RESEND_MAX_MS = 600_000;
const SWEEP_PAGE = 500;

export class ExpiryScheduler implements Component {
  readonly name = 'expiry scheduler';
  private timers: NodeJS.Timeout[] = [];
  private busy = { schedule: false, sweep: false };
  /** Only the sweep backs off its sends: the Redis path sends each hold once by itself (takeDue removes it). */
  private readonly overdue: OverdueSweep<{ id: string; expires_at: Date }>;

  constructor(
    private readonly rt: Runtime,
    private readonly schedule: ExpirySchedule,
    private readonly opts: { pollMs: number; sweepMs: number; sweepGraceMs: number },
  ) {
    this.overdue = new OverdueSweep({
      page: SWEEP_PAGE,
      resend: { firstMs: Math.max(RESEND_FIRST_MS, 10 * opts.sweepMs), maxMs: RESEND_MAX_MS },
      keyOf: (r) => ({ at: r.expires_at, id: r.id }),
      read: (after, limit) =>
        rt.db.query(
          `SELECT id, expires_at FROM inventory.reservation
           WHERE status = 'held' AND expires_at < now() - make_interval(secs => $1::double precision / 1000)
             AND ($2::timestamptz IS NULL OR (expires_at, id) > ($2::timestamptz, $3::text))
           ORDER BY expires_at, id LIMIT ${limit}`,
          [opts.sweepGraceMs, after?.at ?? null, after?.id ?? null],
        ),
      send: (r) => this.send(r.id, 'sweep'),
    });
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
    const { read, sent } = await this.overdue.pass();
    if (sent > 0) this.rt.log.info({ count: sent, overduePage: read }, 'sweep found overdue reservations');
    return sent;
  }

  private async send(reservationId: string, source: 'redis' | 'sweep'): Promise<void> {
    await sendCommand(this.rt, 'ExpireReservation', { reservationId }, { messageId: `expire-${reservationId}-${newMessageId()}`, correlationId: reservationId });
    this.rt.metrics.reservationExpiries.inc({ source });
  }
}
