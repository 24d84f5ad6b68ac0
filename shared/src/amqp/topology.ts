import type { Channel, Options } from 'amqplib';
import { commandExchange, contracts, deadLetterExchange, deadQueue, eventsExchange, inputsOf, partitionLabel, partitionOf, partitionQueue, type Contract, type MessageType, type WorkerKind, WORKER_KINDS } from '@stockflow/client';
import { gatewayOutcomesQueue } from '@stockflow/client/internal';
import { TopologyMismatchError } from '../errors';

/**
 * Names and arguments of every exchange and queue, derived from the contract registry.
 * Declared in code at start and after every reconnect; never edited by hand on the broker.
 */
export interface TopologyOptions {
  namespace: string;
  partitions: number;
  deliveryLimit: number;
  /**
   * Members a quorum queue gets when it is created (x-quorum-initial-group-size): 3 on a
   * three-node cluster, said explicitly rather than left to the broker's quorum_cluster_size
   * (as many nodes as there are up to 3 in RabbitMQ 3.10, which a broker's config can change).
   * A queue that exists keeps its members (see QUORUM_GROUP_SIZES).
   */
  quorumGroupSize?: QuorumGroupSize;
}

/**
 * The broker shapes stockflow runs on: one node, or a three-node cluster. An existing queue
 * created for either (with or without x-quorum-initial-group-size) is accepted by
 * declareTopology whatever group size is declared now: the argument only matters when a queue
 * is created, and members are moved with rabbitmq-queues, not by declaring again.
 */
export const QUORUM_GROUP_SIZES = [1, 3] as const;
export type QuorumGroupSize = (typeof QUORUM_GROUP_SIZES)[number];

const GROUP_SIZE_ARG = 'x-quorum-initial-group-size';

/** The arguments every quorum queue of the topology has (type and, when set, group size). */
export function quorumArguments(opts: Pick<TopologyOptions, 'quorumGroupSize'>): Record<string, unknown> {
  return opts.quorumGroupSize === undefined ? { 'x-queue-type': 'quorum' } : { 'x-queue-type': 'quorum', [GROUP_SIZE_ARG]: opts.quorumGroupSize };
}

export interface QueueSpec {
  name: string;
  options: Options.AssertQueue;
  bindings: { exchange: string; routingKey: string }[];
}

export interface ExchangeSpec {
  name: string;
  type: 'direct' | 'topic';
}

/** Where the workers themselves deliver a message (outbox relay, sweeps, the webhook gateway). */
export interface DeliveryRoute {
  exchange: string;
  routingKey: string;
  mandatory: boolean;
  partition: number;
  /** Events only: the copy for watchers on the events exchange (never mandatory). */
  watch?: { exchange: string; routingKey: string };
}

/**
 * The workers' own route for a message: straight to its consumer's partition queue through the
 * default exchange (mandatory), and for an event a second copy to the events exchange for
 * whoever watches it. Not through a binding: with a watcher bound to the events exchange ('#',
 * the flood's tap, a monitoring queue), an event whose consumer binding was deleted would still
 * be routed to the watcher, the broker would confirm it without a return, and the consumer
 * would never get it. The default exchange has no bindings to delete: the only way to miss is a
 * deleted queue, which a mandatory publish detects (and the relay declares it again). Upstream
 * publishers keep using routeOf (the command exchanges by partition label).
 */
export function deliveryOf(opts: Pick<TopologyOptions, 'namespace' | 'partitions'>, type: MessageType, partitionKey: string): DeliveryRoute {
  const partition = partitionOf(partitionKey, opts.partitions);
  // Every emitted event asks for its route: built once per topology, type and partition.
  let byType = ROUTES.get(opts);
  if (!byType) ROUTES.set(opts, (byType = new Map<MessageType, DeliveryRoute[]>()));
  let byPartition = byType.get(type);
  if (!byPartition) byType.set(type, (byPartition = []));
  return (byPartition[partition] ??= Object.freeze(buildDelivery(opts, type, partition)));
}

const ROUTES = new WeakMap<object, Map<MessageType, DeliveryRoute[]>>();

function buildDelivery(opts: Pick<TopologyOptions, 'namespace' | 'partitions'>, type: MessageType, partition: number): DeliveryRoute {
  const contract: Contract = contracts[type];
  if (contract.kind === 'command') return { exchange: '', routingKey: partitionQueue(opts.namespace, contract.worker, partition, opts.partitions), mandatory: true, partition };
  const watch = { exchange: eventsExchange(opts.namespace), routingKey: `${type}.${partitionLabel(partition, opts.partitions)}` };
  const [consumer, ...more] = contract.consumers;
  if (more.length > 0) throw new Error(`${type}: one consumer kind per event (the outbox delivers one direct copy)`);
  if (!consumer) return { ...watch, mandatory: false, partition };
  return { exchange: '', routingKey: partitionQueue(opts.namespace, consumer, partition, opts.partitions), mandatory: true, partition, watch };
}

export function partitionQueueArguments(opts: TopologyOptions, queue: string): Record<string, unknown> {
  return {
    ...quorumArguments(opts),
    // One consumer at a time per partition: the broker's half of per-key ordering.
    'x-single-active-consumer': true,
    // RabbitMQ 3.10 has no default; without it a poison message loops forever.
    'x-delivery-limit': opts.deliveryLimit,
    'x-dead-letter-exchange': deadLetterExchange(opts.namespace),
    'x-dead-letter-routing-key': queue,
    // at-least-once dead-lettering keeps a message until the dead queue confirms it.
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

export function exchangesOf(ns: string): ExchangeSpec[] {
  return [
    ...WORKER_KINDS.map((w) => ({ name: commandExchange(ns, w), type: 'direct' as const })),
    { name: eventsExchange(ns), type: 'topic' },
    { name: deadLetterExchange(ns), type: 'direct' },
  ];
}

/**
 * Partition queues of one worker kind and their dead queues. A partition queue is bound to its
 * command exchange only (upstream publishers route by partition label); the events it consumes
 * come straight from the producing worker's relay (deliveryOf).
 */
export function queuesOf(opts: TopologyOptions, worker: WorkerKind): QueueSpec[] {
  const specs: QueueSpec[] = [];
  for (let p = 0; p < opts.partitions; p++) {
    const name = partitionQueue(opts.namespace, worker, p, opts.partitions);
    const label = partitionLabel(p, opts.partitions);
    specs.push({
      name,
      options: { durable: true, arguments: partitionQueueArguments(opts, name) },
      bindings: [{ exchange: commandExchange(opts.namespace, worker), routingKey: label }],
    });
    specs.push({
      name: deadQueue(name),
      // Replicated like its partition queue: a dead letter is kept for an operator to replay.
      options: { durable: true, arguments: quorumArguments(opts) },
      bindings: [{ exchange: deadLetterExchange(opts.namespace), routingKey: name }],
    });
  }
  return specs;
}

/** The event bindings partition queues had before events were delivered straight to them. */
function legacyEventBindings(opts: TopologyOptions, worker: WorkerKind): { queue: string; exchange: string; routingKey: string }[] {
  const events = inputsOf(worker).filter((t) => contracts[t].kind === 'event');
  return Array.from({ length: opts.partitions }, (_, p) => p).flatMap((p) =>
    events.map((t) => ({ queue: partitionQueue(opts.namespace, worker, p, opts.partitions), exchange: eventsExchange(opts.namespace), routingKey: `${t}.${partitionLabel(p, opts.partitions)}` })),
  );
}

const INEQUIVALENT = /inequivalent arg '([^']+)' for (queue|exchange) '([^']+)'[^:]*: (.*)$/;

/** Turns the broker's 406 into an error that names the queue and the argument. */
export function asTopologyError(err: unknown): unknown {
  const message = err instanceof Error ? err.message : String(err);
  const m = INEQUIVALENT.exec(message);
  if (!m) return err;
  return new TopologyMismatchError(`${m[2]} '${m[3]}'`, m[1]!, m[4]!.replace(/"$/, ''));
}

/**
 * The group size a queue has on the broker, when a declaration was refused only for declaring
 * another one and the queue's is one QUORUM_GROUP_SIZES accepts: `null` for none (a queue
 * created before the option, or by a worker that does not set it). `undefined` for any other
 * refusal, which stays an error.
 */
export function acceptedGroupSize(err: unknown): QuorumGroupSize | null | undefined {
  if (!(err instanceof TopologyMismatchError) || err.argument !== GROUP_SIZE_ARG) return undefined;
  const m = /but current is (?:none|(?:the value )?'(\d+)'(?: of type '[^']*')?)$/.exec(err.detail);
  if (!m) return undefined;
  if (m[1] === undefined) return null;
  const size = Number(m[1]);
  return (QUORUM_GROUP_SIZES as readonly number[]).includes(size) ? (size as QuorumGroupSize) : undefined;
}

/**
 * Runs `fn` on a channel of its own, closed after. A mismatch closes the channel (406), so it
 * is never shared with other work; the 406 comes back as a TopologyMismatchError.
 */
async function onChannel(open: () => Promise<Channel>, fn: (ch: Channel) => Promise<unknown>): Promise<void> {
  const ch = await open();
  let failure: unknown;
  ch.on('error', (err: unknown) => {
    failure ??= err;
  });
  try {
    await fn(ch);
    await ch.close();
  } catch (err) {
    throw asTopologyError(failure ?? err);
  }
}

/** One queue, taking the group size it already has when that is one the check accepts. */
export async function declareQueueKeepingGroupSize(open: () => Promise<Channel>, q: QueueSpec): Promise<void> {
  try {
    await onChannel(open, (ch) => ch.assertQueue(q.name, q.options));
  } catch (err) {
    const current = acceptedGroupSize(err);
    if (current === undefined) throw err;
    const args: Record<string, unknown> = { ...(q.options.arguments as Record<string, unknown>) };
    if (current === null) delete args[GROUP_SIZE_ARG];
    else args[GROUP_SIZE_ARG] = current;
    // Every other argument is still compared by the broker.
    await onChannel(open, (ch) => ch.assertQueue(q.name, { ...q.options, arguments: args }));
  }
}

/**
 * Declares exchanges and the given workers' queues. Everything goes on one channel; when that
 * is refused only because existing queues were created with another accepted group size (a
 * deployment that moved from one node to a cluster, or a worker not told the cluster's size),
 * the queues are declared again one by one, each keeping its own.
 */
export async function declareTopology(
  open: () => Promise<Channel>,
  opts: TopologyOptions,
  workers: readonly WorkerKind[],
): Promise<void> {
  const exchanges = exchangesOf(opts.namespace);
  const queues = workers.flatMap((w) => queuesOf(opts, w));
  const bindAll = async (ch: Channel) => {
    await Promise.all(queues.flatMap((q) => q.bindings.map((b) => ch.bindQueue(q.name, b.exchange, b.routingKey))));
    // Partition queues were once bound to the events they consume: a queue keeping such a
    // binding would get every such event twice (once straight from the relay).
    await Promise.all(workers.flatMap((w) => legacyEventBindings(opts, w).map((b) => ch.unbindQueue(b.queue, b.exchange, b.routingKey))));
  };
  try {
    await onChannel(open, async (ch) => {
      await Promise.all(exchanges.map((e) => ch.assertExchange(e.name, e.type, { durable: true })));
      await Promise.all(queues.map((q) => ch.assertQueue(q.name, q.options)));
      await bindAll(ch);
    });
  } catch (err) {
    if (acceptedGroupSize(err) === undefined) throw err;
    for (const q of queues) await declareQueueKeepingGroupSize(open, q);
    await onChannel(open, async (ch) => {
      await Promise.all(exchanges.map((e) => ch.assertExchange(e.name, e.type, { durable: true })));
      await bindAll(ch);
    });
  }
}

/** Test and ops helper: removes every queue and exchange of a namespace. */
export async function deleteTopology(open: () => Promise<Channel>, opts: TopologyOptions): Promise<void> {
  const ch = await open();
  ch.on('error', () => undefined);
  for (const q of WORKER_KINDS.flatMap((w) => queuesOf(opts, w))) await ch.deleteQueue(q.name);
  // The gateway's, when one ran in this namespace (deleting a queue that is not there is fine).
  await ch.deleteQueue(gatewayOutcomesQueue(opts.namespace));
  for (const e of exchangesOf(opts.namespace)) await ch.deleteExchange(e.name);
  await ch.close();
}

/** Least time between two repairs: a publish failing in a loop must not redeclare ~100 queues each time. */
const REPAIR_MIN_INTERVAL_MS = 5_000;

/**
 * Declares the topology again on demand (a publish came back unroutable, or lost its channel to
 * a missing exchange), for the queues, bindings and exchanges somebody deleted while the worker
 * ran. Concurrent calls share one declaration; a call within REPAIR_MIN_INTERVAL_MS of the last
 * one returns at once.
 */
export class TopologyRepair {
  private running: Promise<void> | undefined;
  private lastAt = 0;

  constructor(private readonly declare: () => Promise<void>) {}

  repair(): Promise<void> {
    if (this.running) return this.running;
    if (Date.now() - this.lastAt < REPAIR_MIN_INTERVAL_MS) return Promise.resolve();
    this.running = this.declare().finally(() => {
      this.lastAt = Date.now();
      this.running = undefined;
    });
    return this.running;
  }
}
