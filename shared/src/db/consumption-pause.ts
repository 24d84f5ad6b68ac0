type Query = <R = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<R[]>;

/**
 * Consumption paused by an operator (`stockflow-ops pause`), one row per paused scope in
 * `<schema>.consumption_pause`: a partition number, or NULL for every partition of the worker.
 * Postgres holds it, not Redis or a process, so an instance that starts or restarts during a
 * migration stays paused, and every instance of the kind reads the same answer.
 *
 * Paused means: no instance holds a consumer on the partition's queue. Its messages wait in
 * the queue (published, confirmed, in order); nothing is dead-lettered or skipped, and a resume
 * takes up where it stopped.
 */
export interface ConsumptionPause {
  /** null: every partition of this worker kind. */
  partition: number | null;
  reason: string;
  pausedBy: string;
  pausedAt: string;
}

export const PAUSE_TABLE = 'consumption_pause';

export async function listPauses(query: Query, schema: string): Promise<ConsumptionPause[]> {
  const rows = await query<{ partition: number | null; reason: string; paused_by: string; paused_at: Date }>(
    `SELECT partition, reason, paused_by, paused_at FROM "${schema}".${PAUSE_TABLE} ORDER BY partition NULLS FIRST`,
  );
  return rows.map((r) => ({ partition: r.partition, reason: r.reason, pausedBy: r.paused_by, pausedAt: r.paused_at.toISOString() }));
}

/** Pauses the given partitions, or every partition (null); pausing again updates the reason. */
export async function addPauses(query: Query, schema: string, partitions: readonly number[] | null, reason: string, pausedBy: string): Promise<void> {
  await query(
    `INSERT INTO "${schema}".${PAUSE_TABLE} (partition, reason, paused_by)
     SELECT DISTINCT p, $2, $3 FROM unnest($1::int[]) AS p
     ON CONFLICT ((coalesce(partition, -1))) DO UPDATE SET reason = EXCLUDED.reason, paused_by = EXCLUDED.paused_by, paused_at = now()`,
    [partitions ?? [null], reason, pausedBy],
  );
}

/** Resumes the given partitions, or everything (null: the whole-worker pause and every partition's). */
export async function removePauses(query: Query, schema: string, partitions: readonly number[] | null): Promise<number> {
  const rows = partitions === null
    ? await query(`DELETE FROM "${schema}".${PAUSE_TABLE} RETURNING 1`)
    : await query(`DELETE FROM "${schema}".${PAUSE_TABLE} WHERE partition = ANY($1::int[]) RETURNING 1`, [partitions]);
  return rows.length;
}

/** The partitions (0 … partitions-1) the pauses keep from being consumed. */
export function pausedPartitions(pauses: readonly ConsumptionPause[], partitions: number): Set<number> {
  if (pauses.some((p) => p.partition === null)) return new Set(Array.from({ length: partitions }, (_, i) => i));
  return new Set(pauses.map((p) => p.partition!).filter((p) => p < partitions));
}
