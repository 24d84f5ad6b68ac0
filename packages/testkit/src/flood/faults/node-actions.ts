import { FaultSkipped, type FaultContext, type FaultOutcome } from './actions';
import { edge } from './edge-actions';
import { partitionGaps, type PartitionGap } from './partition-gaps';
import { dbNow, partitionNames, timelines } from './partition-timelines';

/** The RabbitMQ cluster the flood runs on, as the node faults need it. */
export interface ClusterNodes {
  readonly nodes: readonly { index: number; name: string }[];
  /** The node leading each queue whose name starts with `prefix`. */
  leaders(prefix: string): Promise<{ name: string; leader: string }[]>;
  stop(index: number, how: { kill: boolean }): Promise<void>;
  /** Starts the node and waits until the cluster sees it running. */
  start(index: number): Promise<void>;
  /** Starts every node a fault stopped and did not start again (healing). */
  restore(): Promise<void>;
  /**
   * Waits until every member of each quorum queue named `prefix`… is online again, at most
   * `timeoutMs`; the queues still missing one.
   */
  awaitMembersOnline(prefix: string, timeoutMs: number): Promise<string[]>;
}

/** One node down, as the report and the node-failover invariant see it. */
export interface NodeOutage {
  node: string;
  how: 'stop' | 'kill';
  /** How long it waited for every queue member to be online before it went down. */
  membersWaitMs: number;
  at: number;
  /** From the stop to the node running in the cluster again. */
  downMs: number;
  /** Partition queues the node led when it went down. */
  partitionsLed: number;
  /** From the stop until the management API showed each of them led by another node (-1: not all, while it was down). */
  leadersMovedMs: number;
  /** The ones that had no leader on another node before it was started again. */
  notMoved: string[];
  /** Of those, the ones with work waiting after the outage began: the ones measured. */
  busyLed: number;
  /** The longest a busy partition it led stood still while work waited (-1: none was busy). */
  maxNoProgressMs: number;
  /** The same for the busy partitions other nodes led: what the whole run lost meanwhile. */
  othersMaxNoProgressMs: number;
  /** The partitions it led that never moved again in the window. */
  stalled: string[];
  /** Its led partitions' no-progress times, longest first. */
  worst: PartitionGap[];
}

/** How long before the outage commands are followed: longer than any command waits in its queue around one. */
const LOOK_BACK_MS = 60_000;
/** After the node is back, how long the measuring window stays open (and the next rolling stop waits). */
const AFTER_MS = 10_000;
/** How long a downed node stays down at most waiting for its queues' new leaders (quorum queues elect one in about a second). */
const LEADERS_WAIT_MS = 15_000;
const LOOK_EVERY_MS = 500;
/** How long a node fault waits for every queue member to be online before it stops a node. */
const MEMBERS_ONLINE_WAIT_MS = 120_000;
const WORST_SHOWN = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function clusterOf(ctx: FaultContext, kind: string): ClusterNodes {
  if (!ctx.cluster) throw new FaultSkipped(`${kind}: needs a RabbitMQ cluster the flood may stop nodes of (--cluster)`);
  return ctx.cluster;
}

async function ledBy(c: ClusterNodes, namespace: string, partitions: number): Promise<Map<string, string[]>> {
  const names = partitionNames(namespace, partitions);
  const out = new Map<string, string[]>(c.nodes.map((n) => [n.name, []]));
  for (const q of await c.leaders(`${namespace}.`)) {
    const label = names.get(q.name);
    if (label) out.get(q.leader)?.push(label);
  }
  return out;
}

/**
 * Once every queue member is online (as rabbitmq-upgrade await_online_quorum_plus_one checks
 * before an operator stops a node: a node restarted just before and still booting would
 * otherwise be missing too, and each queue with members on both would lose its majority),
 * takes one node down (SIGTERM, or SIGKILL for a crash) and keeps it down for `downMs` and
 * until the partition queues it led have leaders on the other nodes (at most LEADERS_WAIT_MS:
 * a queue without members elsewhere never gets one), starts it again and waits until it runs
 * in the cluster, then measures how long the partitions it led made no progress. The node is
 * started again however the wait ends.
 */
async function outage(ctx: FaultContext, c: ClusterNodes, node: { index: number; name: string }, downMs: number, kill: boolean): Promise<NodeOutage> {
  const e = edge(ctx);
  const n = e.topology.partitions;
  const waitStart = Date.now();
  const missing = await c.awaitMembersOnline(`${e.topology.namespace}.`, MEMBERS_ONLINE_WAIT_MS);
  if (missing.length > 0) throw new Error(`${node.name} not stopped: ${missing.length} queues still miss a member after ${MEMBERS_ONLINE_WAIT_MS} ms (${missing.slice(0, 3).join(', ')})`);
  const membersWaitMs = Date.now() - waitStart;
  const led = (await ledBy(c, e.topology.namespace, n)).get(node.name) ?? [];
  const at = await dbNow(e.pool);
  const started = Date.now();
  let leadersMovedMs = -1;
  let notMoved = led;
  try {
    // Leaders are looked for while the node stops too: a graceful stop hands them over as it goes.
    let stopped = false;
    const stopping = c.stop(node.index, { kill }).finally(() => (stopped = true));
    stopping.catch(() => undefined);
    for (;;) {
      const elapsed = Date.now() - started;
      if (leadersMovedMs < 0) {
        notMoved = await stillLedBy(c, e.topology.namespace, n, node.name, led).catch(() => notMoved);
        if (notMoved.length === 0) leadersMovedMs = Date.now() - started;
      }
      if (stopped && elapsed >= downMs && (leadersMovedMs >= 0 || elapsed >= LEADERS_WAIT_MS)) break;
      await sleep(LOOK_EVERY_MS);
    }
    await stopping;
  } finally {
    await c.start(node.index);
  }
  const back = await dbNow(e.pool);
  await sleep(AFTER_MS);
  const until = await dbNow(e.pool);
  const gaps = partitionGaps(await timelines(e.pool, e.history, n, at - LOOK_BACK_MS, until), { outageAt: at, until });
  const mine = new Set(led);
  const ofLed = gaps.filter((g) => mine.has(g.partition));
  const others = gaps.filter((g) => !mine.has(g.partition));
  return {
    node: node.name,
    how: kill ? 'kill' : 'stop',
    membersWaitMs,
    at,
    downMs: back - at,
    partitionsLed: led.length,
    leadersMovedMs,
    notMoved,
    busyLed: ofLed.length,
    maxNoProgressMs: ofLed[0]?.noProgressMs ?? -1,
    othersMaxNoProgressMs: others[0]?.noProgressMs ?? -1,
    stalled: ofLed.filter((g) => g.stalled).map((g) => g.partition),
    worst: ofLed.slice(0, WORST_SHOWN),
  };
}

/** Of `led`, the partitions whose queue the management API still shows led by `node` (or by none). */
async function stillLedBy(c: ClusterNodes, namespace: string, partitions: number, node: string, led: string[]): Promise<string[]> {
  const now = await ledBy(c, namespace, partitions);
  const elsewhere = new Set([...now.entries()].filter(([name]) => name !== node).flatMap(([, l]) => l));
  return led.filter((p) => !elsewhere.has(p));
}

function describe(o: NodeOutage): string {
  const s = (ms: number) => (ms < 0 ? '-' : `${(ms / 1000).toFixed(1)} s`);
  const leaders = o.leadersMovedMs >= 0 ? `new leaders after ${s(o.leadersMovedMs)}` : `${o.notMoved.length} without a new leader`;
  const moved = o.busyLed === 0 ? 'none of them busy' : `no progress at most ${s(o.maxNoProgressMs)} (others ${s(o.othersMaxNoProgressMs)})`;
  return `${o.membersWaitMs >= 1000 ? `after ${s(o.membersWaitMs)} for queue members, ` : ''}${o.how === 'kill' ? 'SIGKILL' : 'stopped'}, back after ${s(o.downMs)}; led ${o.partitionsLed} partition queues, ${leaders}, ${moved}${o.stalled.length > 0 ? `; stalled: ${o.stalled.join(', ')}` : ''}`;
}

/** The node leading the most partition queues goes down for --node-down; half the time it crashes (SIGKILL). */
async function node(ctx: FaultContext): Promise<FaultOutcome> {
  const c = clusterOf(ctx, 'node');
  const e = edge(ctx);
  const led = await ledBy(c, e.topology.namespace, e.topology.partitions);
  const most = Math.max(...[...led.values()].map((l) => l.length));
  const target = ctx.rng.pick(c.nodes.filter((n) => (led.get(n.name)?.length ?? 0) === most));
  const o = await outage(ctx, c, target, ctx.nodeDownMs, ctx.rng.chance(0.5));
  return { target: o.node, detail: describe(o), outages: [o] };
}

/** Every node in turn is stopped and started again, the next only once the last runs in the cluster and its queue members are online. */
async function rollingRestart(ctx: FaultContext): Promise<FaultOutcome> {
  const c = clusterOf(ctx, 'rolling-restart');
  const outages: NodeOutage[] = [];
  for (const n of c.nodes) outages.push(await outage(ctx, c, n, 0, false));
  return { target: c.nodes.map((n) => n.name).join(', '), detail: outages.map((o) => `${o.node}: ${describe(o)}`).join(' | '), outages };
}

export const NODE_ACTIONS = { node, 'rolling-restart': rollingRestart } as const;
