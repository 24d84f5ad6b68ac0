import type { OpsContext } from './context';
import { OPS_WORKERS, workerNamed, type OpsWorker } from './worker-kinds';

/** One parked key: its head row (the one the broker kept refusing) and how many wait behind it. */
export interface ParkedKey {
  service: string;
  partitionKey: string;
  head: { id: string; messageId: string; type: string; routingKey: string; reason: string; attempts: number; parkedAt: string; retryAt: string | null };
  rows: number;
}

function workersOf(target: string | undefined): readonly OpsWorker[] {
  if (!target) return OPS_WORKERS;
  const w = workerNamed(target);
  if (!w) throw new Error(`unknown worker '${target}' (one of ${OPS_WORKERS.map((x) => x.kind).join(', ')})`);
  return [w];
}

/** Parked outbox rows per key, oldest head first. */
export async function outboxParked(ctx: OpsContext, target?: string): Promise<ParkedKey[]> {
  const out: ParkedKey[] = [];
  for (const w of workersOf(target)) {
    const rows = await ctx.query<{ partition_key: string; id: string; message_id: string; type: string; routing_key: string; reason: string; attempts: number; parked_at: Date; retry_at: Date | null; rows: string }>(
      `SELECT DISTINCT ON (partition_key) partition_key, id, message_id, type, routing_key, reason, attempts, parked_at, retry_at,
              count(*) OVER (PARTITION BY partition_key) AS rows
       FROM "${w.schema}".outbox_parked ORDER BY partition_key, id`,
    );
    for (const r of rows) {
      out.push({
        service: w.service,
        partitionKey: r.partition_key,
        head: { id: r.id, messageId: r.message_id, type: r.type, routingKey: r.routing_key, reason: r.reason, attempts: r.attempts, parkedAt: r.parked_at.toISOString(), retryAt: r.retry_at?.toISOString() ?? null },
        rows: Number(r.rows),
      });
    }
  }
  return out.sort((a, b) => Number(a.head.id) - Number(b.head.id));
}

/** Parked rows per worker, for `ops status`. */
export async function parkedCount(ctx: OpsContext, w: OpsWorker): Promise<number> {
  const [row] = await ctx.query<{ n: string }>(`SELECT count(*) AS n FROM "${w.schema}".outbox_parked`);
  return Number(row?.n ?? 0);
}

/**
 * Asks the relay that leads to try the heads of these keys (or all) on its next poll instead of
 * after their backoff: what an operator does once the cause is fixed (a binding restored, the
 * broker's limits raised). The relay alone moves rows, so their order holds.
 */
export async function outboxRetry(ctx: OpsContext, target: string, keys: string[] | 'all'): Promise<number> {
  let n = 0;
  for (const w of workersOf(target)) {
    const rows = await ctx.query(
      `UPDATE "${w.schema}".outbox_parked SET retry_at = now()
       WHERE id IN (SELECT DISTINCT ON (partition_key) id FROM "${w.schema}".outbox_parked ${keys === 'all' ? '' : 'WHERE partition_key = ANY($1::text[])'} ORDER BY partition_key, id)
       RETURNING id`,
      keys === 'all' ? [] : [keys],
    );
    n += rows.length;
  }
  return n;
}

/** Deletes the parked rows of these keys (or all): they are never published. `dryRun` only counts them. */
export async function outboxDiscard(ctx: OpsContext, target: string, keys: string[] | 'all', dryRun: boolean): Promise<number> {
  let n = 0;
  for (const w of workersOf(target)) {
    const where = keys === 'all' ? '' : 'WHERE partition_key = ANY($1::text[])';
    const params = keys === 'all' ? [] : [keys];
    const rows = dryRun
      ? await ctx.query<{ n: string }>(`SELECT count(*) AS n FROM "${w.schema}".outbox_parked ${where}`, params)
      : await ctx.query<{ n: string }>(`WITH gone AS (DELETE FROM "${w.schema}".outbox_parked ${where} RETURNING 1) SELECT count(*) AS n FROM gone`, params);
    n += Number(rows[0]?.n ?? 0);
  }
  return n;
}
