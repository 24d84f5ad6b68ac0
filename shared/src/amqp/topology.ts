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
  const contract: Contract = contracts[type];
  const partition = partitionOf(partitionKey, opts.partitions);
  if (contract.kind === 'command') return { exchange: '', routingKey: partitionQueue(opts.namespace, contract.worker, partition, opts.partitions), mandatory: true, partition };
  const watch = { exchange: eventsExchange(opts.namespace), routingKey: `${type}.${partitionLabel(partition, opts.partitions)}` };
  const [consumer, ...more] = contract.consumers;
  if (more.length > 0) throw new Error(`${type}: one consumer kind per event (the outbox delivers one direct copy)`);
  if (!consumer) return { ...watch, mandatory: false, partition };
  return { exchange: '', routingKey: partitionQueue(opts.namespace, consumer, partition, opts.partitions), mandatory: true, partition, watch };
}

export function partitionQueueArguments(opts: TopologyOptions, queue: string): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
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
      options: { durable: true, arguments: { 'x-queue-type': 'quorum' } },
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
 * Declares exchanges and the given workers' queues. Runs on a throwaway channel because a
 * mismatch closes the channel (406).
 */
export async function declareTopology(
  open: () => Promise<Channel>,
  opts: TopologyOptions,
  workers: readonly WorkerKind[],
): Promise<void> {
  const ch = await open();
  let failure: unknown;
  ch.on('error', (err: unknown) => {
    failure ??= err;
  });
  try {
    await Promise.all(exchangesOf(opts.namespace).map((e) => ch.assertExchange(e.name, e.type, { durable: true })));
    const queues = workers.flatMap((w) => queuesOf(opts, w));
    await Promise.all(queues.map((q) => ch.assertQueue(q.name, q.options)));
    await Promise.all(queues.flatMap((q) => q.bindings.map((b) => ch.bindQueue(q.name, b.exchange, b.routingKey))));
    // Partition queues were once bound to the events they consume: a queue keeping such a
    // binding would get every such event twice (once straight from the relay).
    await Promise.all(workers.flatMap((w) => legacyEventBindings(opts, w).map((b) => ch.unbindQueue(b.queue, b.exchange, b.routingKey))));
    await ch.close();
  } catch (err) {
    throw asTopologyError(failure ?? err);
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
