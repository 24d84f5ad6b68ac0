import { hostname } from 'node:os';
import { addPauses, isUndefinedTable, listPauses, partitionLabel, partitionQueue, PAUSE_SEEN_MS, removePauses, type ConsumptionPause } from '@stockflow/shared';
import type { OpsContext } from './context';
import { checkQueues } from './queue-check';
import type { OpsWorker } from './worker-kinds';

/** How often `pause` looks whether the paused queues have lost their consumers. */
const WAIT_POLL_MS = 250;


export class PartitionOutOfRangeError extends Error {
  constructor(partition: number, partitions: number) {
    super(`partition ${partition} does not exist: the deployment has ${partitions} (0 … ${partitions - 1})`);
  }
}

export interface PauseOutcome {
  worker: string;
  /** null: the whole worker. */
  partitions: number[] | null;
  /** Paused queues that still had a consumer when the wait ran out (none: the pause holds). */
  stillConsumed: { queue: string; consumers: number }[];
  waitedMs: number;
}

/** Who paused, for the record: the operator's user and host. */
function operator(env: NodeJS.ProcessEnv): string {
  return `${env.USER ?? env.USERNAME ?? 'unknown'}@${hostname()}`;
}

async function checkPartitions(ctx: OpsContext, partitions: readonly number[] | null): Promise<number> {
  const { partitions: n } = await ctx.deployment();
  for (const p of partitions ?? []) if (p >= n) throw new PartitionOutOfRangeError(p, n);
  return n;
}

/**
 * Records the pause, then waits (up to `waitMs`) until no instance consumes a paused queue:
 * each instance sees the pause within its poll, finishes the batch in hand, acks it and cancels.
 * What still has a consumer after the wait is reported, not hidden.
 */
export async function pause(ctx: OpsContext, w: OpsWorker, given: number[] | null, reason: string, waitMs: number, env: NodeJS.ProcessEnv): Promise<PauseOutcome> {
  const partitions = given === null ? null : [...new Set(given)].sort((a, b) => a - b);
  const n = await checkPartitions(ctx, partitions);
  try {
    await addPauses((sql, p) => ctx.query(sql, p), w.schema, partitions, reason, operator(env));
  } catch (err) {
    if (isUndefinedTable(err)) throw new Error(`no ${w.service} has started on this database yet (schema ${w.schema} has no pause table): start one first, it creates it`);
    throw err;
  }
  const queues = (partitions ?? Array.from({ length: n }, (_, i) => i)).map((p) => partitionQueue(ctx.namespace, w.kind, p, n));
  const started = Date.now();
  for (;;) {
    // From the broker itself over AMQP: exact now, where the management API's counts lag.
    const stats = await checkQueues(ctx, queues);
    const stillConsumed = queues.map((queue) => ({ queue, consumers: stats.get(queue)?.consumers ?? 0 })).filter((q) => q.consumers > 0);
    const waitedMs = Date.now() - started;
    if ((stillConsumed.length === 0 && waitedMs >= PAUSE_SEEN_MS) || waitedMs >= waitMs) return { worker: w.service, partitions, stillConsumed, waitedMs };
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
}

/** Removes pauses: the given partitions, or all of this worker's (null). Returns how many. */
export async function resume(ctx: OpsContext, w: OpsWorker, partitions: number[] | null): Promise<{ removed: number; wholeWorkerStillPaused: boolean }> {
  await checkPartitions(ctx, partitions);
  const query = <R = Record<string, unknown>>(sql: string, p?: unknown[]) => ctx.query<R>(sql, p);
  const removed = await removePauses(query, w.schema, partitions);
  const wholeWorkerStillPaused = (await listPauses(query, w.schema)).some((p) => p.partition === null);
  return { removed, wholeWorkerStillPaused };
}

/** The worker's pauses; none where its schema has no pause table yet (no worker migrated it). */
export async function pausesOf(ctx: OpsContext, w: OpsWorker): Promise<ConsumptionPause[]> {
  try {
    return await listPauses((sql, p) => ctx.query(sql, p), w.schema);
  } catch (err) {
    if (isUndefinedTable(err)) return [];
    throw err;
  }
}

/** `p03`, or `every partition`, for messages. */
export function scopeLabel(partition: number | null, partitions: number): string {
  return partition === null ? 'every partition' : `p${partitionLabel(partition, partitions)}`;
}
