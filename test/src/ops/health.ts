import type { StatusReport, WorkerStatus } from './status';

/**
 * `ops status` as a health check for a cron job or a CI step: healthy only when every service
 * answered, every partition of every worker kind has an owner and an active consumer, no dead
 * letter waits and no outbox row is parked. Each reason is one short clause naming the worker.
 */
export interface Health {
  verdict: 'healthy' | 'degraded';
  reasons: string[];
}

function workerReasons(w: WorkerStatus): string[] {
  const reasons: string[] = [];
  const n = w.partitions.length;
  if (w.members !== null) {
    const unowned = w.partitions.filter((p) => p.owners.length === 0).length;
    if (unowned === n) reasons.push(`${w.service}: no instance owns any of its ${n} partitions (nothing consumes them)`);
    else if (unowned > 0) reasons.push(`${w.service}: ${unowned} of ${n} partitions have no owner`);
  }
  const owned = w.partitions.filter((p) => p.owners.length > 0);
  const idle = owned.filter((p) => p.consumers === 0).length;
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
