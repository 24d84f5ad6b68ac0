import { purgeInbox } from '@stockflow/shared';
import type { OpsContext } from './context';
import { OPS_WORKERS, workerNamed } from './worker-kinds';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `7d`, `12h`, `30m`, `45s`, `500ms` → milliseconds. */
export function parseDuration(raw: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(raw.trim());
  if (!m) throw new Error(`'${raw}' is not a duration (use e.g. 7d, 12h, 30m, 45s)`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

export interface PurgeResult {
  service: string;
  /** Rows deleted, or with dryRun the rows that would be. */
  rows: number;
}

/**
 * Deletes inbox rows older than the window, in small batches (what each worker's retention job
 * does every hour). A duplicate of a purged id arriving later is applied
 * again: the window must be longer than any redelivery or re-publish can be late.
 */
export async function inboxPurge(ctx: OpsContext, olderThanMs: number, opts: { worker?: string; dryRun?: boolean; batch?: number } = {}): Promise<PurgeResult[]> {
  const workers = opts.worker ? [workerNamed(opts.worker)] : OPS_WORKERS;
  if (workers[0] === undefined) throw new Error(`unknown worker '${opts.worker}' (${OPS_WORKERS.map((w) => w.service).join(', ')})`);
  const out: PurgeResult[] = [];
  for (const w of workers as typeof OPS_WORKERS) {
    if (opts.dryRun) {
      const [row] = await ctx.query<{ n: string }>(`SELECT count(*) AS n FROM "${w.schema}".inbox WHERE received_at < now() - make_interval(secs => $1::double precision / 1000)`, [olderThanMs]);
      out.push({ service: w.service, rows: Number(row?.n ?? 0) });
    } else {
      out.push({ service: w.service, rows: await purgeInbox((sql, p) => ctx.query(sql, p), w.schema, olderThanMs, opts.batch ?? 1000) });
    }
  }
  return out;
}
