import { deadQueue, liveMembers, partitionLabel, partitionQueue, pausedPartitions, relayLeaseHolders, type ConsumptionPause } from '@stockflow/shared';
import type { OpsContext } from './context';
import type { ConsumerInfo, QueueStats } from './management';
import { parkedCount } from './outbox';
import { checkQueues } from './queue-check';
import { pausesOf } from './pause';
import { instanceOfConnection, OPS_WORKERS, type OpsWorker } from './worker-kinds';

export interface PartitionRow {
  partition: string;
  queue: string;
  /** Instances whose lease record says they consume it (two while a handover drains). */
  owners: string[];
  /** The broker's single active consumer (management API only). */
  active: string | null;
  ready: number | null;
  unacked: number | null;
  consumers: number | null;
  redelivered: number | null;
  dead: number | null;
  /** An operator paused it (stockflow-ops pause): no instance is meant to consume it. */
  paused: boolean;
}

export interface WorkerStatus {
  service: string;
  members: { instance: string; leaseLeftMs: number; owned: number[] }[] | null;
  partitions: PartitionRow[];
  /** The operator's pauses (null: Postgres unreachable). */
  pauses: ConsumptionPause[] | null;
  /** Queues of this worker that the current partition count does not know (another N). */
  strayQueues: string[];
  /** relays: who publishes which shards of the outbox (a shard per partition). */
  outbox: { rows: number; oldestAgeS: number; parked: number; relays: { holder: string; shards: number[] }[] } | null;
}

export interface StatusReport {
  namespace: string;
  partitions: number;
  recorded: { state: string; targetPartitions: number | null } | null;
  workers: WorkerStatus[];
  /** One line per service that could not be reached, and what that hides. */
  problems: string[];
}

async function attempt<T>(problems: string[], what: string, fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    problems.push(`${(err as Error).message}${what ? ` (${what})` : ''}`);
    return null;
  }
}

async function workerStatus(ctx: OpsContext, w: OpsWorker, partitions: number, queues: Map<string, QueueStats> | null, consumers: ConsumerInfo[] | null, problems: string[]): Promise<WorkerStatus> {
  const names = Array.from({ length: partitions }, (_, p) => partitionQueue(ctx.namespace, w.kind, p, partitions));
  const stats = queues ?? (await attempt(problems, 'no queue depths', () => checkQueues(ctx, names.flatMap((n) => [n, deadQueue(n)]))));
  const members = await attempt(problems, 'no partition owners', async () => (await liveMembers(await ctx.redis(), w.kind)).map((m) => ({ instance: m.instance, leaseLeftMs: m.leaseLeftMs, owned: m.info?.owned ?? [] })));
  const outbox = await attempt(problems, 'no outbox backlog', async () => {
    const [row] = await ctx.query<{ n: string; age: number | null }>(`SELECT count(*) AS n, extract(epoch FROM now() - min(created_at))::float8 AS age FROM "${w.schema}".outbox`);
    const holders = await relayLeaseHolders((sql, params) => ctx.query(sql, params), w.schema);
    return { rows: Number(row?.n ?? 0), oldestAgeS: Math.max(0, row?.age ?? 0), parked: await parkedCount(ctx, w), relays: [...holders].map(([holder, shards]) => ({ holder, shards })) };
  });
  const pauses = await attempt(problems, 'pauses unknown', () => pausesOf(ctx, w));
  const paused = pausedPartitions(pauses ?? [], partitions);
  const relayed = new Set(outbox?.relays.flatMap((r) => r.shards) ?? []);
  if (outbox && outbox.rows > 0 && relayed.size < partitions) problems.push(`${w.service}: ${partitions - relayed.size} of ${partitions} outbox shards have no relay (their rows wait for an instance that owns the partition)`);
  if (outbox && outbox.parked > 0) problems.push(`${w.service}: ${outbox.parked} outbox row(s) parked (the broker kept refusing them): \`npm run ops -- outbox parked ${w.kind}\``);
  const missing = stats ? names.filter((n) => !stats.has(n)) : [];
  if (missing.length > 0) problems.push(`${w.service}: ${missing.length} of ${partitions} partition queues do not exist (no worker has declared them yet, or they were made for another partition count)`);
  const num = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? null : v);
  const rows = names.map((queue, p): PartitionRow => {
    const s = stats?.get(queue);
    const active = consumers?.find((c) => c.queue === queue && c.active);
    return {
      partition: `p${partitionLabel(p, partitions)}`,
      queue,
      owners: (members ?? []).filter((m) => m.owned.includes(p)).map((m) => m.instance),
      active: active ? instanceOfConnection(active.connectionName) : null,
      ready: num(s?.ready),
      unacked: num(s?.unacked),
      consumers: num(s?.consumers),
      redelivered: num(s?.redelivered),
      dead: num(stats?.get(deadQueue(queue))?.messages),
      paused: paused.has(p),
    };
  });
  const known = new Set(names.flatMap((n) => [n, deadQueue(n)]));
  const strayQueues = queues ? [...queues.keys()].filter((q) => q.startsWith(`${ctx.namespace}.${w.kind}.p`) && !known.has(q)).sort() : [];
  return { service: w.service, members, partitions: rows, pauses, strayQueues, outbox };
}

/**
 * Everything an operator asks first: who owns which partition, how deep each queue is, what
 * is unacked, redelivered or dead, and how far behind each outbox is. Keeps going when a
 * service is unreachable and says what is missing because of it.
 */
export async function status(ctx: OpsContext): Promise<StatusReport> {
  const problems: string[] = [];
  const deployment = await attempt(problems, `partition count from PARTITIONS=${ctx.config.partitions}`, () => ctx.deployment());
  const partitions = deployment?.partitions ?? ctx.config.partitions;
  const prefix = `${ctx.namespace}.`;
  const queues = await attempt(problems, 'depths from AMQP instead: no unacked or redelivery counts, no active consumer', async () => new Map((await ctx.management.queues(prefix)).map((q) => [q.name, q])));
  const consumers = queues ? await attempt(problems, 'no active consumer', () => ctx.management.consumers(prefix)) : null;
  const workers: WorkerStatus[] = [];
  for (const w of OPS_WORKERS) workers.push(await workerStatus(ctx, w, partitions, queues, consumers, problems));
  const record = deployment?.record;
  return {
    namespace: ctx.namespace,
    partitions,
    recorded: record ? { state: record.state, targetPartitions: record.targetPartitions } : null,
    workers,
    problems: [...new Set(problems)],
  };
}
