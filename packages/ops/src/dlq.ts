import type { Channel, GetMessage } from 'amqplib';
import { DEAD_LETTER_HEADERS, deadQueue, HEADER, partitionOf, partitionQueue } from '@stockflow/shared';
import type { OpsContext } from './context';
import { OPS_WORKERS, workerNamed, workerOfQueue } from './worker-kinds';

export interface DeadLetter {
  queue: string;
  messageId: string | null;
  type: string | null;
  partitionKey: string | null;
  /** The worker's reason (x-stockflow-reason) or the broker's (delivery_limit, rejected, …). */
  reason: string;
  error: string | null;
  deadAt: string | null;
  /** The partition queue it died in. */
  from: string | null;
}

const SETTLE_MS = 1000;

/** Headers the dead-lettering added; a replayed message starts clean of them. */
const DEATH_HEADERS = [HEADER.reason, HEADER.error, HEADER.originalQueue, HEADER.deadAt, DEAD_LETTER_HEADERS.dropped, DEAD_LETTER_HEADERS.compensation, 'x-death', 'x-first-death-reason', 'x-first-death-queue', 'x-first-death-exchange', 'x-last-death-reason', 'x-last-death-queue', 'x-last-death-exchange', 'x-delivery-count', 'x-stockflow-pub'];

function str(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return typeof v === 'string' || typeof v === 'number' ? String(v) : null;
}

function describe(queue: string, m: GetMessage): DeadLetter {
  const h = (m.properties.headers ?? {}) as Record<string, unknown>;
  const death = Array.isArray(h['x-death']) ? (h['x-death'][0] as { time?: { value?: number } } | undefined) : undefined;
  return {
    queue,
    messageId: str(m.properties.messageId),
    type: str(m.properties.type),
    partitionKey: str(h[HEADER.partitionKey]),
    reason: str(h[HEADER.reason]) ?? str(h['x-first-death-reason']) ?? 'unknown',
    error: str(h[HEADER.error]),
    deadAt: str(h[HEADER.deadAt]) ?? (death?.time?.value ? new Date(death.time.value * 1000).toISOString() : null),
    from: str(h[HEADER.originalQueue]) ?? str(h['x-first-death-queue']) ?? queue.replace(/\.dead$/, ''),
  };
}

/** A worker (every dead queue of it), a partition queue (its dead queue) or a dead queue. */
export async function deadQueuesOf(ctx: OpsContext, target: string): Promise<string[]> {
  const worker = workerNamed(target);
  if (worker) {
    const { partitions } = await ctx.deployment().catch(() => ({ partitions: ctx.config.partitions }));
    return Array.from({ length: partitions }, (_, p) => deadQueue(partitionQueue(ctx.namespace, worker.kind, p, partitions)));
  }
  const queue = target.endsWith('.dead') ? target : deadQueue(target);
  if (!workerOfQueue(ctx.namespace, queue)) {
    throw new Error(`'${target}' is neither a worker (${OPS_WORKERS.map((w) => w.service).join(', ')}) nor a queue of namespace '${ctx.namespace}' (like ${ctx.namespace}.inventory.p03.dead)`);
  }
  return [queue];
}

async function openOn(ctx: OpsContext, queue: string): Promise<Channel> {
  const conn = await ctx.amqp();
  const probe = await conn.createChannel();
  try {
    await probe.checkQueue(queue);
    await probe.close();
  } catch {
    throw new Error(`queue '${queue}' does not exist in RabbitMQ (${ctx.namespace}; wrong STOCKFLOW_NAMESPACE or partition count?)`);
  }
  return conn.createChannel();
}

/** Which dead letters a command acts on: all of them, or those matching every given filter, at most `limit`. */
export interface DeadLetterFilter {
  ids?: string[];
  reasons?: string[];
  types?: string[];
  limit?: number;
}

function matches(d: DeadLetter, f: DeadLetterFilter): boolean {
  if (f.ids?.length && !(d.messageId && f.ids.includes(d.messageId))) return false;
  if (f.reasons?.length && !f.reasons.includes(d.reason)) return false;
  if (f.types?.length && !(d.type && f.types.includes(d.type))) return false;
  return true;
}

/**
 * Calls `act` for each dead letter of `target` that passes the filter, in queue order, until
 * `limit` of them. Messages are fetched one at a time and held unacked: what `act` does not ack
 * goes back in order when the channel closes, and reading stops at the limit instead of holding
 * the whole dead queue.
 */
async function walk(ctx: OpsContext, target: string, filter: DeadLetterFilter, act: (ch: Channel, queue: string, m: GetMessage, d: DeadLetter) => Promise<void>): Promise<void> {
  let left = filter.limit ?? Infinity;
  for (const queue of await deadQueuesOf(ctx, target)) {
    if (left <= 0) return;
    const ch = await openOn(ctx, queue);
    let acted = false;
    try {
      while (left > 0) {
        const m = await ch.get(queue, { noAck: false });
        if (!m) break;
        const d = describe(queue, m);
        if (!matches(d, filter)) continue;
        left--;
        acted = true;
        await act(ch, queue, m, d);
      }
      // RabbitMQ 3.10 quorum queues apply acks at low priority: closing the channel right after
      // acking was seen to put the last acked messages back. Give the acks a moment first.
      if (acted) await new Promise((r) => setTimeout(r, SETTLE_MS));
    } finally {
      // Whatever was not acked goes back to the dead queue, in order.
      await ch.close();
    }
  }
}

/** Lists dead letters without removing them. */
export async function dlqList(ctx: OpsContext, target: string, filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
  const out: DeadLetter[] = [];
  await walk(ctx, target, filter, async (_ch, _q, _m, d) => void out.push(d));
  return out;
}

/** Removes dead letters for good (or, dry, says which it would). */
export async function dlqDiscard(ctx: OpsContext, target: string, filter: DeadLetterFilter, dryRun: boolean): Promise<DeadLetter[]> {
  const out: DeadLetter[] = [];
  await walk(ctx, target, filter, async (ch, _q, m, d) => {
    if (!dryRun) ch.ack(m);
    out.push(d);
  });
  return out;
}

export interface ReplayResult {
  replayed: { messageId: string | null; type: string | null; to: string }[];
  failed: { messageId: string | null; error: string }[];
  /** --id values found in no dead queue. */
  notFound: string[];
}

/**
 * Re-publishes dead letters (all, or those with the given ids) to the partition queue their
 * key belongs to under the current partition count, straight to the queue (an event would
 * otherwise reach every worker bound to it again), with the same messageId: a message that
 * had in fact been applied finds its inbox row and changes nothing. Acked in the dead queue
 * only after the broker confirmed the copy.
 */
export async function dlqReplay(ctx: OpsContext, target: string, filter: DeadLetterFilter = {}): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: [], failed: [], notFound: [] };
  const found = new Set<string>();
  const { partitions } = await ctx.deployment();
  const pub = await ctx.publisher();
  await walk(ctx, target, filter, async (ch, queue, m, d) => {
    const worker = workerOfQueue(ctx.namespace, queue)!;
    if (d.messageId) found.add(d.messageId);
    const to = d.partitionKey !== null ? partitionQueue(ctx.namespace, worker.kind, partitionOf(d.partitionKey, partitions), partitions) : d.from!;
    const headers = Object.fromEntries(Object.entries((m.properties.headers ?? {}) as Record<string, unknown>).filter(([k]) => !DEATH_HEADERS.includes(k)));
    try {
      await pub.publish('', to, m.content, {
        messageId: d.messageId ?? `replayed-${Date.now()}-${m.fields.deliveryTag}`,
        type: d.type ?? undefined,
        correlationId: str(m.properties.correlationId) ?? undefined,
        timestamp: m.properties.timestamp as number | undefined,
        contentType: str(m.properties.contentType) ?? 'application/json',
        headers: { ...headers, 'x-stockflow-replayed-from': queue, 'x-stockflow-replayed-at': new Date().toISOString() },
      });
      ch.ack(m);
      result.replayed.push({ messageId: d.messageId, type: d.type, to });
    } catch (err) {
      result.failed.push({ messageId: d.messageId, error: (err as Error).message });
    }
  });
  result.notFound = (filter.ids ?? []).filter((id) => !found.has(id));
  return result;
}
