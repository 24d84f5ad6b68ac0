import { Client } from 'pg';
import { Redis } from 'ioredis';
import { deleteNamespaceKeys, type WorkerKind } from '@stockflow/shared';
import type { Rng } from '../rng';
import type { Fleet } from '../supervisor/fleet';
import { ProcessFleet } from '../supervisor/fleet';
import type { WorkerProcess } from '../supervisor/worker-process';
import type { BrokerAdmin, BrokerConnection } from './broker-admin';
import { restartBrokerApp } from './rabbitmqctl';
import { EDGE_ACTIONS, type EdgeContext } from './edge-actions';
import { NODE_ACTIONS, type ClusterNodes, type NodeOutage } from './node-actions';
import { pause } from './pause-action';
import type { FaultKind } from './plan';

export interface FaultContext {
  namespace: string;
  /** The database the workers use (sessions are only terminated there). */
  databaseUrl: string;
  redisUrl: string;
  /** FLUSHALL instead of deleting the namespace's keys (only for a Redis nobody else uses). */
  redisFlushAll: boolean;
  fleet: Fleet;
  /** Management API or rabbitmqctl; undefined when neither answers (no conn faults). */
  broker: BrokerAdmin | undefined;
  /** rabbitmqctl reaches the broker's node (needed for a broker restart). */
  rabbitmqctl: boolean;
  rng: Rng;
  /** How long a stopped worker stays stopped. */
  stopMs: number;
  brokerDownMs: number;
  /** How long a node fault keeps its node down. */
  nodeDownMs: number;
  /** What the faults at the edges (edge-actions.ts) need; absent in unit tests of the others. */
  edge?: EdgeContext;
  /** The RabbitMQ cluster whose nodes the node faults stop (--cluster); absent on one broker. */
  cluster?: ClusterNodes;
  log(line: string): void;
}

export interface FaultOutcome {
  target: string;
  detail: string;
  /** Figures an invariant reads (relay-failover, forged-webhooks). */
  measure?: Record<string, number>;
  /** The nodes a node fault took down, each with how long the partitions it led stood still. */
  outages?: NodeOutage[];
}

export class FaultSkipped extends Error {}

/** Types whose commit is followed by a self-inflicted SIGKILL (before the ack), per worker kind. */
const CRASH_TYPES: Record<WorkerKind, string[]> = {
  inventory: ['ReserveStock', 'ReceiveStock', 'TransferStock', 'CommitReservation', 'ShipStock'],
  orders: ['PlaceOrder', 'StockReserved', 'PaymentCaptured', 'ReservationCommitted'],
  payments: ['RequestPayment', 'ProviderWebhook'],
};

function owned(ctx: FaultContext, kind: FaultKind): ProcessFleet {
  if (!(ctx.fleet instanceof ProcessFleet)) throw new FaultSkipped(`${kind}: needs worker processes the flood started (not available with --attach)`);
  return ctx.fleet;
}

function victim(ctx: FaultContext, kind: FaultKind, filter?: (p: WorkerProcess) => boolean): WorkerProcess {
  const p = owned(ctx, kind).pick(ctx.rng, filter);
  if (!p) throw new FaultSkipped(`${kind}: no running worker to pick`);
  return p;
}

async function kill(ctx: FaultContext): Promise<FaultOutcome> {
  const fleet = owned(ctx, 'kill');
  // Not one armed to crash by itself: its own crash must count as the after-commit kind.
  const p = victim(ctx, 'kill', (w) => !w.armed);
  let detail = 'SIGKILL, restarted';
  if (ctx.rng.chance(0.5)) {
    const type = ctx.rng.pick(CRASH_TYPES[p.kind]);
    fleet.armNext(p, { STOCKFLOW_TEST_EXIT_AFTER_COMMIT: type, STOCKFLOW_ALLOW_SABOTAGE: 'i-know-this-breaks-things' });
    detail = `SIGKILL, restarted armed: dies after its next commit of ${type}, before the ack`;
  }
  p.signal('SIGKILL');
  return { target: `${p.instanceId} (pid ${p.pid})`, detail };
}

async function conn(ctx: FaultContext): Promise<FaultOutcome> {
  if (!ctx.broker) throw new FaultSkipped('conn: neither the management API nor rabbitmqctl reaches this broker');
  // The management API lists a connection only once its stats were emitted (every 5 s), so
  // right after a (re)start a worker's connection may not be there yet: look again for that long.
  const deadline = Date.now() + ctx.broker.countsLagMs;
  let candidates: BrokerConnection[] = [];
  for (;;) {
    const all = await ctx.broker.namespaceConnections(ctx.namespace);
    const processes = ctx.fleet.processes().filter((p) => p.state === 'running');
    candidates = processes.length > 0 ? all.filter((c) => processes.some((p) => c.name.includes(p.instanceId))) : all;
    if (candidates.length > 0 || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (candidates.length === 0) throw new FaultSkipped('conn: no worker connection found on the broker');
  const c = ctx.rng.pick(candidates);
  await ctx.broker.closeConnection(c.id, 'stockflow flood: connection drop');
  return { target: c.name, detail: `closed by the broker (${ctx.broker.kind})` };
}

async function pg(ctx: FaultContext): Promise<FaultOutcome> {
  const processes = ctx.fleet.processes().filter((p) => p.state === 'running');
  const target = processes.length > 0 ? ctx.rng.pick(processes).instanceId : 'stockflow:';
  const database = new URL(ctx.databaseUrl).pathname.slice(1);
  const client = new Client({ connectionString: ctx.databaseUrl, application_name: 'stockflow-flood:faults' });
  await client.connect();
  try {
    const res = await client.query<{ state: string | null; ok: boolean }>(
      `SELECT state, pg_terminate_backend(pid) AS ok FROM pg_stat_activity
       WHERE datname = $1 AND application_name LIKE 'stockflow:%' AND application_name LIKE '%' || $2 || '%' AND pid <> pg_backend_pid()`,
      [database, target],
    );
    const busy = res.rows.filter((r) => r.state !== 'idle').length;
    return { target, detail: `${res.rows.filter((r) => r.ok).length} sessions terminated (${busy} busy)` };
  } finally {
    await client.end();
  }
}

async function redis(ctx: FaultContext): Promise<FaultOutcome> {
  if (ctx.redisFlushAll) {
    const client = new Redis(ctx.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await client.connect();
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
    return { target: 'redis', detail: 'FLUSHALL' };
  }
  const deleted = await deleteNamespaceKeys(ctx.redisUrl, ctx.namespace);
  return { target: `redis ${ctx.namespace}:*`, detail: `${deleted} keys deleted (dedup cache, expiry schedule)` };
}

async function stop(ctx: FaultContext): Promise<FaultOutcome> {
  owned(ctx, 'stop');
  // Prefer a worker that actively consumes: stopping a standby shows nothing.
  let active: string[] = [];
  if (ctx.broker) active = (await ctx.broker.namespaceConnections(ctx.namespace, { activeOnly: true }).catch(() => [])).map((c) => c.name);
  const p = victim(ctx, 'stop', active.length > 0 ? (w) => active.some((n) => n.includes(w.instanceId)) : undefined);
  p.signal('SIGSTOP');
  const incarnation = p.incarnation;
  setTimeout(() => {
    if (p.state === 'paused' && p.incarnation === incarnation) p.signal('SIGCONT');
  }, ctx.stopMs).unref();
  return { target: `${p.instanceId} (pid ${p.pid})`, detail: `SIGSTOP for ${ctx.stopMs} ms, then SIGCONT` };
}

async function broker(ctx: FaultContext): Promise<FaultOutcome> {
  if (ctx.cluster) throw new FaultSkipped('broker: on a cluster a restart is a node fault (node, rolling-restart)');
  if (!ctx.rabbitmqctl) throw new FaultSkipped('broker: rabbitmqctl is not available for this broker');
  await restartBrokerApp(ctx.brokerDownMs);
  return { target: 'rabbitmq', detail: `stop_app, ${ctx.brokerDownMs} ms down, start_app` };
}

export const FAULT_ACTIONS: Record<FaultKind, (ctx: FaultContext) => Promise<FaultOutcome>> = { kill, conn, pg, redis, stop, broker, ...EDGE_ACTIONS, pause, ...NODE_ACTIONS };
