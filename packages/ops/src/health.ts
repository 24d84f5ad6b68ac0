import type { StatusReport, WorkerStatus } from './status';

/**
 * `ops status` as a health check for a cron job or a CI step: healthy only when every service
 * answered, every partition of every worker kind has an owner and an active consumer, no dead
 * letter waits, no outbox row is parked and nothing is paused (a pause left on is an incident
 * of its own). Each reason is one short clause naming the worker.
 */
export interface Health {
  verdict: 'healthy' | 'degraded';
  reasons: string[];
}

function pausedClause(w: WorkerStatus, labels: string[]): string {
  const whole = w.pauses?.find((p) => p.partition === null);
  const first = whole ?? w.pauses?.[0];
  const why = first ? ` by ${first.pausedBy} since ${first.pausedAt}: ${first.reason}` : '';
  return whole ? `consumption paused${why}` : `${labels.length} of ${w.partitions.length} partitions paused (${labels.join(', ')})${why}`;
}

function workerReasons(w: WorkerStatus): string[] {
  const reasons: string[] = [];
  const paused = w.partitions.filter((p) => p.paused);
  if (paused.length > 0) reasons.push(`${w.service}: ${pausedClause(w, paused.map((p) => p.partition))} (npm run ops -- resume ${w.service})`);
  // What nobody consumes though it should: no lease owner and no consumer (with OWNERSHIP=all
  // there are no leases, every instance subscribes and the broker picks the active one).
  const running = w.partitions.filter((p) => !p.paused);
  if (w.members !== null) {
    const unowned = running.filter((p) => p.owners.length === 0 && !p.consumers && p.active === null).length;
    if (unowned > 0 && unowned === w.partitions.length) reasons.push(`${w.service}: no instance owns any of its ${unowned} partitions (nothing consumes them)`);
    else if (unowned > 0) reasons.push(`${w.service}: ${unowned} of ${w.partitions.length} partitions have no owner`);
  }
  const idle = running.filter((p) => p.owners.length > 0 && p.consumers === 0).length;
  if (idle > 0) reasons.push(`${w.service}: ${idle} owned partition${idle > 1 ? 's have' : ' has'} no consumer`);
  const dead = w.partitions.reduce((a, p) => a + (p.dead ?? 0), 0);
  if (dead > 0) reasons.push(`${w.service}: ${dead} dead letter${dead > 1 ? 's' : ''} waiting (npm run ops -- dlq list ${w.service})`);
  return reasons;
}

export function healthOf(report: StatusReport): Health {
  const reasons = [...report.problems, ...report.workers.flatMap(workerReasons)];
  return { verdict: reasons.length === 0 ? 'healthy' : 'degraded', reasons };
}

/** The one line a person or a log reads first. */
export function healthLine(h: Health): string {
  return h.verdict === 'healthy' ? 'healthy' : `degraded: ${h.reasons.join('; ')}`;
}
