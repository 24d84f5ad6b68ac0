import { readFile } from 'node:fs/promises';
import type { Pool } from 'pg';
import type { History, PublishRecord } from '../history/history';
import type { Fleet } from '../supervisor/fleet';
import { SCHEMAS } from './probes';
import type { Probe } from './sampler';

/** Prefix of per-incarnation RSS values: `rss@<kind>@<instanceId>#<incarnation>`. */
export const RSS_PREFIX = 'rss@';

export function rssKey(kind: string, instanceId: string, incarnation: number): string {
  return `${RSS_PREFIX}${kind}@${instanceId}#${incarnation}`;
}

export function parseRssKey(key: string): { kind: string; process: string } | undefined {
  if (!key.startsWith(RSS_PREFIX)) return undefined;
  const [kind, process] = key.slice(RSS_PREFIX.length).split('@') as [string, string | undefined];
  return process ? { kind, process } : undefined;
}

/**
 * Resident memory of every worker process (MB, from /proc: one small read per process, no
 * help needed from the worker). Keyed per incarnation, because a kill fault restarts a process
 * at a fraction of its size and the leak rule judges each life on its own; the per-kind max is
 * what the charts and the summary show. Linux only: elsewhere the reads fail and the values
 * are simply absent.
 */
export function rssProbe(fleet: Fleet): Probe {
  return {
    name: 'rss',
    read: async () => {
      const out: Record<string, number> = {};
      await Promise.all(
        fleet.processes().map(async (p) => {
          const pid = p.pid;
          if (pid === undefined || p.state === 'exited') return;
          const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
          const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
          if (!kb) return;
          const mb = Number(kb[1]) / 1024;
          out[rssKey(p.kind, p.instanceId, p.incarnation)] = mb;
          out[`rss.${p.kind}`] = Math.max(out[`rss.${p.kind}`] ?? 0, mb);
          out['rss.max'] = Math.max(out['rss.max'] ?? 0, mb);
        }),
      );
      return out;
    },
  };
}

/**
 * Sessions on the run's database, how many of them wait for a lock, and ungranted lock
 * requests (one waiter can hold several). Lock waits that rise with time mean contention grows
 * faster than the workers resolve it (a hot key, a lock held across a slow call).
 */
export function activityProbe(pool: Pool): Probe {
  return {
    name: 'activity',
    read: async () => {
      const { rows } = await pool.query<{ connections: string; lock_waits: string; ungranted: string }>(
        `SELECT count(*) AS connections,
                count(*) FILTER (WHERE wait_event_type = 'Lock') AS lock_waits,
                (SELECT count(*) FROM pg_locks l JOIN pg_stat_activity w ON w.pid = l.pid
                  WHERE NOT l.granted AND w.datname = current_database()) AS ungranted
           FROM pg_stat_activity WHERE datname = current_database()`,
      );
      const r = rows[0]!;
      return { pgConnections: Number(r.connections), lockWaits: Number(r.lock_waits), locksUngranted: Number(r.ungranted) };
    },
  };
}

/**
 * Live rows and on-disk size of each schema's inbox and outbox, from the statistics collector
 * (no table scan: a count(*) of an inbox that grows for half an hour would itself be a load).
 */
export function tableProbe(pool: Pool): Probe {
  return {
    name: 'tables',
    read: async () => {
      const { rows } = await pool.query<{ schemaname: string; relname: string; rows: string; bytes: string }>(
        `SELECT schemaname, relname, n_live_tup AS rows, pg_total_relation_size(relid) AS bytes
           FROM pg_stat_user_tables WHERE relname IN ('inbox', 'outbox') AND schemaname = ANY($1::text[])`,
        [SCHEMAS],
      );
      const out: Record<string, number> = { inbox: 0 };
      for (const r of rows) {
        if (r.relname === 'inbox') {
          out[`inbox.${r.schemaname}`] = Number(r.rows);
          out.inbox! += Number(r.rows);
        }
        out[`${r.relname}MB.${r.schemaname}`] = Number(r.bytes) / 1_048_576;
      }
      return out;
    },
  };
}

/**
 * Commands the broker confirmed that no inbox has claimed yet: the part of the backlog that
 * queue depth cannot see (unacked deliveries, batches in flight, partitions without a consumer).
 * Incremental: each reading asks only for claims since the previous one (inbox.received_at is
 * indexed), with a minute of overlap because received_at is the transaction's start and a
 * batch commits later.
 */
export function lagProbe(pool: Pool, history: History, commandPrefix: string): Probe {
  const claimed = new Set<string>();
  const unclaimed = new Set<string>();
  let unconfirmed: PublishRecord[] = [];
  let cursor = 0;
  let since = new Date(0);
  const OVERLAP_MS = 60_000;
  return {
    name: 'lag',
    read: async () => {
      const from = new Date(since.getTime() - OVERLAP_MS);
      const sql = SCHEMAS.map((s) => `SELECT message_id, now() AS at FROM "${s}".inbox WHERE received_at >= $1 AND message_id LIKE $2 || '%'`).join(' UNION ALL ');
      const { rows } = await pool.query<{ message_id: string; at: Date }>(`${sql} UNION ALL SELECT NULL, now()`, [from, commandPrefix]);
      since = rows[rows.length - 1]!.at;
      for (const r of rows) {
        if (r.message_id === null) continue;
        claimed.add(r.message_id);
        unclaimed.delete(r.message_id);
      }
      for (; cursor < history.publishes.length; cursor++) unconfirmed.push(history.publishes[cursor]!);
      const still: PublishRecord[] = [];
      for (const p of unconfirmed) {
        if (p.confirmedAt === undefined) still.push(p);
        else if (!claimed.has(p.id)) unclaimed.add(p.id);
      }
      unconfirmed = still;
      return { lag: unclaimed.size };
    },
  };
}
