import type { ConsumeMessage } from 'amqplib';
import {
  contracts,
  deadQueue,
  declareTopology,
  HEADER,
  liveMembers,
  partitionLabel,
  partitionOf,
  partitionQueue,
  deliveryOf,
  WORKER_KINDS,
  writeDeployment,
  type MessageType,
  type WorkerKind,
} from '@stockflow/shared';
import type { OpsContext } from './context';
import { pausesOf, scopeLabel } from './pause';
import { checkQueues } from './queue-check';
import { OPS_WORKERS } from './worker-kinds';

export interface RepartitionResult {
  from: number;
  to: number;
  /** Messages now in their partition queue under the new count, per worker service. */
  moved: Record<string, number>;
  /** Dead letters moved out of dead queues that no longer exist under the new count. */
  movedDead: number;
  outboxRerouted: number;
  deletedQueues: string[];
}

const COPY_DROPPED = new Set(['x-delivery-count', 'x-stockflow-pub']);
const WINDOW = 200;
const STALL_MS = 15_000;

function keyOf(m: ConsumeMessage): string | null {
  const v: unknown = m.properties.headers?.[HEADER.partitionKey];
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return typeof v === 'string' ? v : null;
}

/** Refuses to run while anything consumes: a live worker would apply messages mid-move. */
async function requireStopped(ctx: OpsContext, names: string[]): Promise<void> {
  const busy = [...(await checkQueues(ctx, names)).values()].filter((q) => q.consumers > 0).map((q) => `${q.name} has ${q.consumers} consumer(s)`);
  const redis = await ctx.redis().catch(() => undefined);
  for (const kind of WORKER_KINDS) {
    const members = redis ? await liveMembers(redis, kind).catch(() => []) : [];
    if (members.length > 0) busy.push(`${kind} instances hold leases: ${members.map((m) => m.instance).join(', ')}`);
  }
  if (busy.length > 0) throw new Error(`workers are still running; stop every worker first (SIGTERM drains them cleanly):\n  - ${busy.join('\n  - ')}`);
}

/** A paused partition number would name other keys after the move: those pauses go first. */
async function requireNoPartitionPauses(ctx: OpsContext, partitions: number): Promise<void> {
  for (const w of OPS_WORKERS) {
    const single = (await pausesOf(ctx, w)).filter((p) => p.partition !== null);
    if (single.length > 0) throw new Error(`${w.service} has paused partitions (${single.map((p) => scopeLabel(p.partition, partitions)).join(', ')}): after a repartition their numbers hold other keys; resume them first (\`stockflow-ops resume ${w.kind}\`), a whole-worker pause may stay`);
  }
}

/**
 * Copies the `count` messages `queue` holds (nothing else is published to it meanwhile) to
 * `targetOf(m)`, in queue order, over one confirm channel; acks each original only after its
 * copy is confirmed and never after an earlier copy failed. Consumes rather than basic.get:
 * quorum queues with single active consumer refuse basic.get.
 *
 * The caller deletes `queue` afterwards: RabbitMQ 3.10 quorum queues apply acks at low
 * priority, and closing the channel right after acking was seen to put the last acked
 * messages back at the head of the queue. Deleting the source makes such ghosts harmless.
 */
async function copyAll(ctx: OpsContext, queue: string, targetOf: (m: ConsumeMessage) => string): Promise<number> {
  const count = (await queueExists(ctx, queue))?.messages ?? 0;
  if (count === 0) return 0;
  const conn = await ctx.amqp();
  const pub = await ctx.publisher();
  const ch = await conn.createChannel();
  await ch.prefetch(WINDOW);
  let seen = 0;
  let failure: Error | undefined;
  let chain: Promise<void> = Promise.resolve();
  const stalled = () => new Error(`${queue}: no message for ${STALL_MS} ms after ${seen} of ${count}`);
  try {
    await new Promise<void>((resolve, reject) => {
      let idle = setTimeout(() => reject(stalled()), STALL_MS);
      ch.consume(
        queue,
        (m) => {
          if (!m) return reject(new Error(`${queue}: consumer cancelled by the broker`));
          if (seen >= count || failure) return;
          seen++;
          clearTimeout(idle);
          idle = setTimeout(() => reject(stalled()), STALL_MS);
          const p = m.properties;
          const headers = Object.fromEntries(Object.entries((p.headers ?? {}) as Record<string, unknown>).filter(([k]) => !COPY_DROPPED.has(k)));
          const confirmed = pub.publish('', targetOf(m), m.content, {
            messageId: String(p.messageId ?? `moved-${queue}-${m.fields.deliveryTag}`),
            type: p.type as string | undefined,
            correlationId: p.correlationId as string | undefined,
            timestamp: p.timestamp as number | undefined,
            contentType: (p.contentType as string | undefined) ?? 'application/json',
            headers,
          });
          chain = chain
            .then(() => confirmed)
            .then(
              () => {
                if (!failure) ch.ack(m);
              },
              (err: unknown) => {
                failure ??= err instanceof Error ? err : new Error(`publish failed while moving ${queue}`);
              },
            );
          if (seen === count) {
            clearTimeout(idle);
            void chain.then(resolve);
          }
        },
        { noAck: false },
      ).catch(reject);
    });
  } finally {
    await chain;
    await ch.close().catch(() => undefined);
  }
  if (failure) throw failure;
  return count;
}

async function queueExists(ctx: OpsContext, name: string): Promise<{ messages: number; consumers: number } | undefined> {
  const ch = await (await ctx.amqp()).createChannel();
  try {
    const q = await ch.checkQueue(name);
    await ch.close();
    return { messages: q.messageCount, consumers: q.consumerCount };
  } catch {
    return undefined;
  }
}

/** Outbox rows carry the route computed at commit time: recompute it for the new count. */
async function rerouteOutboxes(ctx: OpsContext, to: number): Promise<number> {
  let n = 0;
  for (const w of OPS_WORKERS) {
    const rows = await ctx.query<{ id: string; type: string; exchange: string; routing_key: string; watch_routing_key: string | null; key: string | null }>(
      `SELECT id, type, exchange, routing_key, watch_routing_key, properties->'headers'->>'${HEADER.partitionKey}' AS key FROM "${w.schema}".outbox ORDER BY id`,
    );
    for (const r of rows) {
      if (r.key === null || !contracts[r.type as MessageType]) continue;
      const route = deliveryOf(ctx.topology(to), r.type as MessageType, r.key);
      if (route.exchange === r.exchange && route.routingKey === r.routing_key && (route.watch?.routingKey ?? null) === r.watch_routing_key) continue;
      await ctx.query(`UPDATE "${w.schema}".outbox SET exchange = $2, routing_key = $3, watch_exchange = $4, watch_routing_key = $5 WHERE id = $1`, [
        r.id,
        route.exchange,
        route.routingKey,
        route.watch?.exchange ?? null,
        route.watch?.routingKey ?? null,
      ]);
      n++;
    }
  }
  return n;
}

/** Where messages wait between the two phases: one plain quorum queue per new partition. */
function stagingQueue(ctx: OpsContext, kind: WorkerKind, partition: number, partitions: number): string {
  return `${ctx.namespace}.${kind}.repartition.p${partitionLabel(partition, partitions)}`;
}

/**
 * Changes the partition count of a stopped deployment: drain (nothing consumes), reroute, resume
 * (start workers with PARTITIONS=<to>). Rerouting runs in two recorded phases, so a run that
 * fails half-way can be repeated and continues where it stopped:
 *   staging    every old partition queue, in order, is copied into the staging queue of each
 *              message's new partition, then deleted (a key's messages come from one old queue
 *              and land, in order, in one staging queue); dead letters of partitions that go
 *              away move to their key's new dead queue;
 *   delivering the partition queues are declared afresh for the new count (empty), and every
 *              staging queue is copied into its partition queue, then deleted.
 * The deployment is marked repartitioning from the first step to the last, and workers refuse
 * to start meanwhile.
 */
export async function repartition(ctx: OpsContext, to: number, say: (line: string) => void = () => undefined): Promise<RepartitionResult> {
  if (!Number.isInteger(to) || to < 1 || to > 256) throw new Error(`--to must be an integer between 1 and 256, got ${to}`);
  const { record } = await ctx.deployment();
  const from = record?.partitions ?? ctx.config.partitions;
  const result: RepartitionResult = { from, to, moved: {}, movedDead: 0, outboxRerouted: 0, deletedQueues: [] };
  if (record?.state === 'repartitioning' && record.targetPartitions !== to) {
    throw new Error(`a repartition from ${from} to ${record.targetPartitions} is unfinished: run \`repartition --to ${record.targetPartitions}\` again to complete it first`);
  }
  if (from === to && record?.state !== 'repartitioning') {
    say(`already ${to} partitions: nothing to do`);
    return result;
  }
  const names = (kind: WorkerKind, n: number) => Array.from({ length: n }, (_, p) => partitionQueue(ctx.namespace, kind, p, n));
  const surviving = new Set(WORKER_KINDS.flatMap((k) => names(k, to)));
  await requireStopped(ctx, WORKER_KINDS.flatMap((k) => [...names(k, from), ...names(k, to)]));
  await requireNoPartitionPauses(ctx, from);
  const record$ = (phase: 'staging' | 'delivering') => writeDeployment((sql, p) => ctx.query(sql, p), { namespace: ctx.namespace, partitions: from, state: 'repartitioning', targetPartitions: to, phase });
  const conn = await ctx.amqp();
  const ch = await conn.createChannel();
  const drop = async (name: string) => {
    await ch.deleteQueue(name);
    result.deletedQueues.push(name);
  };

  if (record?.phase !== 'delivering') {
    await record$('staging');
    say(`${from} → ${to} partitions: workers refuse to start until this finishes`);
    await declareTopology(() => conn.createChannel(), ctx.topology(to), WORKER_KINDS);
    for (const w of OPS_WORKERS) {
      const newPartition = (m: ConsumeMessage) => {
        const key = keyOf(m);
        // No key to hash (a malformed message): partition 0, whose worker dead-letters it.
        return key === null ? 0 : partitionOf(key, to);
      };
      for (let p = 0; p < to; p++) await ch.assertQueue(stagingQueue(ctx, w.kind, p, to), { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      let staged = 0;
      for (const q of names(w.kind, from)) {
        if (!(await queueExists(ctx, q))) continue;
        staged += await copyAll(ctx, q, (m) => stagingQueue(ctx, w.kind, newPartition(m), to));
        await drop(q);
        if (!surviving.has(q) && (await queueExists(ctx, deadQueue(q)))) {
          result.movedDead += await copyAll(ctx, deadQueue(q), (m) => deadQueue(partitionQueue(ctx.namespace, w.kind, newPartition(m), to)));
          await drop(deadQueue(q));
        }
      }
      say(`${w.service}: ${staged} messages staged for their new partitions`);
    }
    await record$('delivering');
  }

  // Fresh partition queues (the old ones with surviving names were deleted above).
  await declareTopology(() => conn.createChannel(), ctx.topology(to), WORKER_KINDS);
  for (const w of OPS_WORKERS) {
    let delivered = 0;
    for (let p = 0; p < to; p++) {
      const staging = stagingQueue(ctx, w.kind, p, to);
      if (!(await queueExists(ctx, staging))) continue;
      delivered += await copyAll(ctx, staging, () => partitionQueue(ctx.namespace, w.kind, p, to));
      await drop(staging);
    }
    result.moved[w.service] = delivered;
    say(`${w.service}: ${delivered} messages in their new partitions`);
  }
  result.outboxRerouted = await rerouteOutboxes(ctx, to);
  await ch.close();

  await writeDeployment((sql, p) => ctx.query(sql, p), { namespace: ctx.namespace, partitions: to, state: 'active', targetPartitions: null, phase: null });
  say(`done: ${to} partitions recorded; start the workers with PARTITIONS=${to}, and publish with ${to} partitions upstream`);
  return result;
}
