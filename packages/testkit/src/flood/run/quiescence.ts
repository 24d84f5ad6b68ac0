import type { Pool } from 'pg';
import { queuesOf, WORKER_KINDS, type AmqpConnection, type TopologyOptions } from '@stockflow/shared';
import type { BrokerAdmin } from '../faults/broker-admin';
import type { FloodEventTap } from '../history/event-tap';
import type { Fleet } from '../supervisor/fleet';
import { Catalogue } from '../workload/catalogue';

export interface QuiescenceDeps {
  pool: Pool;
  amqp: AmqpConnection;
  topology: TopologyOptions;
  tag: string;
  broker: BrokerAdmin | undefined;
  tap: FloodEventTap;
  fleet: Fleet;
}

export interface QuiescenceResult {
  reached: boolean;
  waitedMs: number;
  /** What was still moving at the last look (empty when reached). */
  pending: string[];
}

export interface QuiescenceLimits {
  /** Give up when nothing moved (inbox, outboxes, queues) for this long. */
  stallMs: number;
  /** Give up after this long whatever happens. */
  maxMs: number;
  signal?: AbortSignal | undefined;
}

/**
 * Quiescence: nothing left that could still change the state the checker reads.
 *   - every partition queue empty: nothing ready (exact, over AMQP) and nothing unacked (from
 *     the management API or rabbitmqctl when either is there);
 *   - every outbox empty, nothing parked, and the event tap has recorded every event;
 *   - no order of the run open, none waiting for a stock, payment or refund answer;
 *   - no reservation of the run still held (each hold in a flood ends: orders finish, direct
 *     holds expire within seconds; this is stricter than "none overdue" on purpose);
 *   - every worker process up.
 * All of it, and the inbox row count unchanged, for a whole window: longer than the broker's
 * counts can lag (the management API samples every 5 s), and 5 s when only AMQP's ready
 * counts are known (an unacked delivery still being applied then shows as inbox growth).
 */
export async function waitForQuiescence(deps: QuiescenceDeps, limits: QuiescenceLimits, onPending?: (pending: string[]) => void): Promise<QuiescenceResult> {
  const start = Date.now();
  const windowMs = Math.max(2000, deps.broker?.countsLagMs ?? 5000);
  let calmSince: number | undefined;
  let lastMoved = start;
  let last = '';
  let pending: string[] = ['not checked yet'];
  // A slow machine drains slowly: what ends the wait is a stall, not a fixed deadline.
  while (Date.now() - lastMoved < limits.stallMs && Date.now() - start < limits.maxMs && !limits.signal?.aborted) {
    const found = await pendingWork(deps).catch((err: unknown) => [`check failed: ${(err as Error).message}`]);
    const inbox = await inboxRows(deps.pool).catch(() => -2);
    const fingerprint = `${inbox} ${found.join('; ')}`;
    if (fingerprint !== last) {
      lastMoved = Date.now();
      calmSince = undefined;
    }
    last = fingerprint;
    pending = found;
    if (found.length > 0) calmSince = undefined;
    else calmSince ??= Date.now();
    if (calmSince !== undefined && Date.now() - calmSince >= windowMs) return { reached: true, waitedMs: Date.now() - start, pending: [] };
    if (found.length > 0) onPending?.(found);
    await new Promise((r) => setTimeout(r, deps.broker?.kind === 'rabbitmqctl' ? 2500 : 1000));
  }
  return { reached: false, waitedMs: Date.now() - start, pending };
}

async function pendingWork(deps: QuiescenceDeps): Promise<string[]> {
  const out: string[] = [];
  const down = deps.fleet.processes().filter((p) => p.state !== 'running');
  if (down.length > 0) out.push(`workers not running: ${down.map((p) => `${p.instanceId} ${p.state}`).join(', ')}`);

  if (deps.broker) {
    const busy = (await deps.broker.queueCounts(`${deps.topology.namespace}.`)).filter((q) => isPartitionQueue(deps, q.name) && q.ready + q.unacked > 0);
    if (busy.length > 0) out.push(`${busy.length} partition queues busy (${busy.reduce((s, q) => s + q.ready, 0)} ready, ${busy.reduce((s, q) => s + q.unacked, 0)} unacked)`);
  }
  // Exact ready counts over AMQP in any case (the broker's admin counts may lag).
  const ch = await deps.amqp.createChannel();
  try {
    let ready = 0;
    for (const kind of WORKER_KINDS) for (const q of queuesOf(deps.topology, kind).filter((q) => !q.name.endsWith('.dead'))) ready += (await ch.checkQueue(q.name)).messageCount;
    if (ready > 0) out.push(`${ready} messages ready in partition queues`);
  } finally {
    await ch.close().catch(() => undefined);
  }

  const { rows: outbox } = await deps.pool.query<{ n: string; parked: string }>(
    `SELECT (SELECT count(*) FROM inventory.outbox) + (SELECT count(*) FROM orders.outbox) + (SELECT count(*) FROM payments.outbox) AS n,
            (SELECT count(*) FROM inventory.outbox_parked) + (SELECT count(*) FROM orders.outbox_parked) + (SELECT count(*) FROM payments.outbox_parked) AS parked`,
  );
  if (Number(outbox[0]?.n ?? 0) > 0) out.push(`${outbox[0]!.n} outbox rows`);
  if (Number(outbox[0]?.parked ?? 0) > 0) out.push(`${outbox[0]!.parked} outbox rows parked (retried by their relay)`);

  const prefix = Catalogue.prefixes(deps.tag);
  const { rows: orders } = await deps.pool.query<{ open: string; moving: string }>(
    `SELECT count(*) FILTER (WHERE status NOT IN ('CONFIRMED', 'REJECTED', 'CANCELLED', 'EXPIRED')) AS open,
            count(*) FILTER (WHERE stock_status IN ('requested', 'held') OR payment_status = 'requested' OR refund_status = 'requested') AS moving
     FROM orders.orders WHERE id LIKE $1 || '%'`,
    [prefix.order],
  );
  if (Number(orders[0]?.open ?? 0) > 0) out.push(`${orders[0]!.open} orders open`);
  if (Number(orders[0]?.moving ?? 0) > 0) out.push(`${orders[0]!.moving} orders waiting for a stock, payment or refund answer`);

  const { rows: holds } = await deps.pool.query<{ n: string }>(`SELECT count(*) AS n FROM inventory.reservation WHERE status = 'held' AND (id LIKE $1 || '%' OR id LIKE $2 || '%')`, [prefix.order, prefix.reservation]);
  if (Number(holds[0]?.n ?? 0) > 0) out.push(`${holds[0]!.n} reservations held`);

  const tapBacklog = await deps.tap.backlog();
  if (tapBacklog > 0) out.push(`${tapBacklog} events not yet recorded by the tap`);
  return out;
}

function isPartitionQueue(deps: QuiescenceDeps, name: string): boolean {
  return !name.endsWith('.dead') && WORKER_KINDS.some((k) => name.startsWith(`${deps.topology.namespace}.${k}.p`));
}

async function inboxRows(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT (SELECT count(*) FROM inventory.inbox) + (SELECT count(*) FROM orders.inbox) + (SELECT count(*) FROM payments.inbox) AS n`);
  return Number(rows[0]?.n ?? 0);
}
