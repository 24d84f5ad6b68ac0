import type { Pool } from 'pg';
import { contracts, partitionLabel, partitionOf, partitionQueue, WORKER_KINDS, WORKER_NAMES, type CommandType, type WorkerKind } from '@stockflow/shared';
import type { History } from '../history/history';
import type { PartitionTimeline } from './partition-gaps';

/** How a partition is named in reports: `<kind> p<partition>`. */
function partitionName(kind: WorkerKind, partition: number, partitions: number): string {
  return `${kind} p${partitionLabel(partition, partitions)}`;
}

/** Partition queue name → `<kind> p<partition>`, for every kind. */
export function partitionNames(namespace: string, partitions: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const kind of WORKER_KINDS) for (let p = 0; p < partitions; p++) out.set(partitionQueue(namespace, kind, p, partitions), partitionName(kind, p, partitions));
  return out;
}

/** The database's clock, which inbox times are in. */
export async function dbNow(pool: Pool): Promise<number> {
  return (await pool.query<{ at: Date }>('SELECT clock_timestamp() AS at')).rows[0]!.at.getTime();
}

/**
 * Each partition's timeline in [from, until]: its inbox times, and the flood's commands for it
 * first sent from `from` on, each with its own inbox time. A command sent earlier and not
 * applied by `from` is not followed (it would need the whole inbox to tell it apart from one
 * applied long ago); the look-back is long enough that none of the outage's is missed.
 */
export async function timelines(pool: Pool, history: History, partitions: number, from: number, until: number): Promise<Map<string, PartitionTimeline>> {
  const label = (kind: WorkerKind, key: string) => partitionName(kind, partitionOf(key, partitions), partitions);
  const out = new Map<string, PartitionTimeline>();
  const of = (l: string) => {
    let tl = out.get(l);
    if (!tl) out.set(l, (tl = { progress: [], waits: [] }));
    return tl;
  };
  const applied = new Map<string, number>();
  for (const kind of WORKER_KINDS as readonly WorkerKind[]) {
    const rows = await pool.query<{ message_id: string; partition_key: string; at: Date }>(`SELECT message_id, partition_key, received_at AS at FROM "${WORKER_NAMES[kind].schema}".inbox WHERE received_at BETWEEN $1 AND $2`, [new Date(from), new Date(until)]);
    for (const r of rows.rows) {
      of(label(kind, r.partition_key)).progress.push(r.at.getTime());
      applied.set(`${kind}/${r.message_id}`, r.at.getTime());
    }
  }
  // From its first attempt: a publish the broker refuses (its queue has no leader) waits too.
  const sent = new Map<string, { kind: WorkerKind; key: string; at: number }>();
  for (const p of history.publishes) {
    if (p.t < from || p.t > until || !(p.type in contracts)) continue;
    const kind = contracts[p.type as CommandType].worker;
    const seen = sent.get(p.id);
    if (!seen || p.t < seen.at) sent.set(p.id, { kind, key: p.key, at: p.t });
  }
  for (const [id, c] of sent) of(label(c.kind, c.key)).waits.push({ from: c.at, until: applied.get(`${c.kind}/${id}`) });
  return out;
}
