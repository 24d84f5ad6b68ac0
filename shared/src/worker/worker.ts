import type { Redis } from 'ioredis';
import { AmqpConnection, ConfirmPublisher, partitionQueue, WORKER_KINDS } from '@stockflow/client/internal';
import { PartitionConsumer } from '../amqp/partition-consumer';
import { declareTopology, TopologyRepair, type TopologyOptions } from '../amqp/topology';
import { quorumGroupSizeOf, validateCommon, type CommonConfig } from '../config';
import { Database } from '../db/database';
import { databaseIdentity } from '../db/identity';
import { appliedSequences, purgeInbox } from '../db/inbox';
import { OutboxRelay } from '../db/outbox-relay';
import { WorkerMetrics } from '../http/metrics';
import { HealthServer } from '../http/server';
import { createLogger, type Logger } from '../logger';
import { createRedis, redisReady } from '../redis/client';
import { RetryPolicy } from '../retry/policy';
import { DEDUP_TTL_S, DedupFilter } from '../redis/dedup-filter';
import { listPauses } from '../db/consumption-pause';
import { AllPartitions, type PartitionAssigner } from './assignment';
import { checkPartitionCount } from './deployment';
import { LeaseAssigner } from './lease-assigner';
import { PAUSED_BATCH_GRACE_MS, PauseWatcher } from './pause-watcher';
import { Resequencer } from './resequencer';
import { MessagePipeline } from './pipeline/message-pipeline';
import { resolveTestHooks, type ResolvedTestHooks, type TestHooks } from './test-hooks';
import type { Component, Runtime, ServiceDefinition, UnitOfWork } from './types';

/**
 * Outbox rows a relay publishes per round: enough to keep the broker's confirms pipelined, few
 * enough that a round's rows and their confirms stay small in memory.
 */
const RELAY_ROUND_ROWS = 500;
/** Inbox rows deleted per statement by the retention job: small, so its locks are short. */
const INBOX_PURGE_BATCH = 1000;
/** How often the retention job deletes inbox rows older than INBOX_RETENTION_MS. */
const INBOX_PURGE_EVERY_MS = 3_600_000;

export const WorkerState = {
  created: 'created',
  starting: 'starting',
  running: 'running',
  stopping: 'stopping',
  stopped: 'stopped',
  failed: 'failed',
} as const;
export type WorkerState = (typeof WorkerState)[keyof typeof WorkerState];

export interface WorkerOptions {
  log?: Logger;
  /** Partition ownership; default from OWNERSHIP: Redis leases, or every partition. */
  assigner?: (rt: Runtime) => PartitionAssigner;
  /** Seams for tests on the real path (test-hooks.ts); production passes none. */
  testHooks?: TestHooks;
}

/**
 * The generic worker process, in pg-boss style: an explicit state, parts started in a fixed
 * order and stopped in reverse, start()/stop() safe to call twice.
 *   database (migrate) → redis → amqp (topology) → publisher → outbox relay
 *   → service components → consumers → retention → http
 */
export class Worker<U extends UnitOfWork> {
  private _state: WorkerState = WorkerState.created;
  private readonly log: Logger;
  private readonly stack: { name: string; stop: () => Promise<void> }[] = [];
  private readonly consumers = new Map<number, PartitionConsumer>();
  /** Consumers of lost partitions still finishing their batch: the shutdown's force reaches them too. */
  private readonly draining = new Set<PartitionConsumer>();
  private rt: Runtime | undefined;
  private amqp: AmqpConnection | undefined;
  private pipeline: MessagePipeline<U> | undefined;
  private relay: OutboxRelay | undefined;
  private assigner: PartitionAssigner | undefined;
  private http: HealthServer | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private fatal: Error | undefined;
  private ownership: Promise<void> = Promise.resolve();
  /** What the assigner gives this instance; the operator's pauses are taken out of it. */
  private assigned: number[] = [];
  private pauses: PauseWatcher | undefined;

  constructor(
    readonly def: ServiceDefinition<U>,
    readonly config: CommonConfig,
    private readonly opts: WorkerOptions = {},
  ) {
    validateCommon(config);
    this.log = opts.log ?? createLogger({ service: def.name, instanceId: config.instanceId, level: config.logLevel });
  }

  get state(): WorkerState {
    return this._state;
  }

  get runtime(): Runtime {
    if (!this.rt) throw new Error('worker not started');
    return this.rt;
  }

  /** Partitions this instance consumes right now. */
  get ownedPartitions(): number[] {
    return [...this.consumers.keys()].sort((a, b) => a - b);
  }

  get httpPort(): number | undefined {
    return this.http?.boundPort;
  }

  get amqpConnection(): AmqpConnection | undefined {
    return this.amqp;
  }

  get outboxRelay(): OutboxRelay | undefined {
    return this.relay;
  }

  get partitionAssigner(): PartitionAssigner | undefined {
    return this.assigner;
  }

  /** Partitions an operator paused (stockflow-ops pause): not consumed by any instance. */
  get pausedPartitions(): number[] {
    return [...(this.pauses?.paused ?? [])].sort((a, b) => a - b);
  }

  /** Resolves when a fatal error (topology mismatch) stops the worker. */
  // Declared before `failed`: with ES2022 class fields a later declaration would re-initialize
  // the resolver to undefined after the promise executor had set it.
  private onFatal: (err: Error) => void = () => undefined;
  readonly failed = new Promise<Error>((resolve) => (this.onFatal = resolve));

  start(): Promise<void> {
    this.starting ??= this.doStart().catch(async (err: unknown) => {
      this._state = WorkerState.failed;
      await this.unwind();
      throw err;
    });
    return this.starting;
  }

  stop(): Promise<void> {
    if (this._state === WorkerState.created) {
      this._state = WorkerState.stopped;
      return Promise.resolve();
    }
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStart(): Promise<void> {
    this._state = WorkerState.starting;
    const { config, def, log } = this;
    const hooks: ResolvedTestHooks = resolveTestHooks(config, this.opts.testHooks, log);
    const { sabotage } = hooks;
    const appName = `stockflow:${def.name}:${config.instanceId}`.slice(0, 63);
    // Where a slow start spends its time (a loaded broker, a held migration lock) is otherwise
    // invisible until "ready" never comes: a stage that takes over 5 s says so while it lasts,
    // and the ready line carries every stage's duration.
    const stagesMs: Record<string, number> = {};
    let stage = 'postgres';
    let stageAt = Date.now();
    const startedAt = stageAt;
    const next = (name: string) => {
      const tookMs = Date.now() - stageAt;
      stagesMs[stage] = tookMs;
      log.debug({ done: stage, tookMs, stage: name }, 'start stage');
      stage = name;
      stageAt = Date.now();
    };
    const slow = setInterval(() => {
      if (this._state !== WorkerState.starting) clearInterval(slow);
      else log.warn({ stage, waitingMs: Date.now() - stageAt }, 'start is slow: still in this stage');
    }, 5000);
    slow.unref();
    log.info({ namespace: config.namespace, partitions: config.partitions }, `${def.name} starting`);

    const db = await Database.open({ url: config.databaseUrl, schema: def.schema, migrations: def.migrations, entities: def.entities, poolSize: config.pgPoolSize, applicationName: appName, log });
    this.stack.push({ name: 'database', stop: () => db.close() });
    next('migrations');
    await db.migrate();
    const identity = await databaseIdentity((sql, p) => db.query(sql, p), def.schema);
    next('deployment check');
    // Before any queue is declared: a worker with another N must not touch the topology.
    await checkPartitionCount((sql, p) => db.query(sql, p), config.namespace, config.partitions);

    next('redis');
    let redis: Redis | undefined = createRedis(config.redisUrl, config.namespace, log, appName);
    await redis.connect().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'redis not reachable at start; continuing'));
    const r = redis;
    this.stack.push({ name: 'redis', stop: async () => void r.disconnect() });

    next('broker and topology');
    const topology: TopologyOptions = { namespace: config.namespace, partitions: config.partitions, deliveryLimit: config.deliveryLimit, quorumGroupSize: quorumGroupSizeOf(config.quorumGroupSize) };
    const amqp = new AmqpConnection({ url: config.amqpUrl, name: appName, heartbeatS: config.amqpHeartbeatS, retryBaseMs: config.retryBaseMs, retryMaxMs: config.retryMaxMs, log });
    this.amqp = amqp;
    amqp.on('fatal', (err) => {
      this.fatal = err;
      log.fatal({ err: err.message }, 'fatal broker error');
      this.onFatal(err);
    });
    // Every worker declares the whole topology, so start order never matters and no command
    // or event is ever unroutable because its consumer has not started yet.
    await amqp.register(async () => declareTopology(() => amqp.createChannel(), topology, WORKER_KINDS));
    this.stack.push({ name: 'amqp', stop: () => amqp.close() });
    await amqp.start();

    const publisher = new ConfirmPublisher(amqp, log);
    await publisher.start();
    this.stack.push({ name: 'publisher', stop: () => publisher.stop() });

    const metrics = new WorkerMetrics({ service: def.name, instanceId: config.instanceId });
    metrics.partitions.set(config.partitions);
    const topologyRepair = new TopologyRepair(async () => {
      await declareTopology(() => amqp.createChannel(), topology, WORKER_KINDS);
      log.warn('topology declared again after a publish met a missing queue, binding or exchange');
    });
    const policy = new RetryPolicy(config.retryBaseMs, config.retryMaxMs);
    this.rt = { config, log, db, redis, publisher, topology, metrics, sabotage, policy, identity, repairTopology: () => topologyRepair.repair() };
    redis = undefined;

    this.relay = new OutboxRelay({
      url: config.databaseUrl,
      schema: def.schema,
      applicationName: appName,
      partitions: config.partitions,
      // Its shards follow the partitions this instance is assigned (setOwned), as soon as the
      // assigner has decided them.
      shards: [],
      assignedTarget: () => this.assigner?.target,
      publisher,
      log,
      pollMs: config.outboxPollMs,
      batch: RELAY_ROUND_ROWS,
      deleteDelayMs: config.outboxDeleteDelayMs,
      retryMaxMs: config.retryMaxMs,
      policy,
      leaseTtlMs: config.leaseTtlMs,
      renewMs: config.heartbeatMs,
      instanceId: config.instanceId,
      afterPublish: hooks.relayAfterPublish,
      repairTopology: () => topologyRepair.repair(),
      onPublished: (n, _age, via) => metrics.outboxPublished.inc({ via }, n),
      onRefused: (kind) => metrics.outboxRefused.inc({ kind }),
      onParked: (n) => metrics.outboxParkedTotal.inc(n),
    });
    metrics.setOutboxSource(async () => {
      const [row] = await db.query<{ n: string; age: number | null; parked: string }>(
        `SELECT count(*) AS n, extract(epoch FROM now() - min(created_at))::float8 AS age, (SELECT count(*) FROM "${def.schema}".outbox_parked) AS parked FROM "${def.schema}".outbox`,
      );
      return { rows: Number(row?.n ?? 0), oldestAgeS: Math.max(0, row?.age ?? 0), parked: Number(row?.parked ?? 0) };
    });
    this.relay.start();
    const relay = this.relay;
    this.stack.push({ name: 'outbox relay', stop: () => relay.stop() });

    const dedup = new DedupFilter(this.rt.redis, def.name, DEDUP_TTL_S, identity.scope);
    // Stopped after the consumers (the stack unwinds in reverse) and before Redis closes.
    this.stack.push({ name: 'duplicate filter', stop: () => dedup.flush() });
    this.pipeline = new MessagePipeline(def, this.rt, dedup, hooks, relay);
    this.assigner = (this.opts.assigner ?? ((rt) => this.defaultAssigner(rt)))(this.rt);
    const assigner = this.assigner;
    // Service components first: they may hold state handlers use from the first message on.
    for (const component of def.components?.(this.rt) ?? []) await this.startComponent(component);
    const pipeline = this.pipeline;
    // Popped right after the consumers: the last batches' steps finish before Redis closes.
    this.stack.push({
      name: 'after-commit steps',
      stop: async () => {
        if (!(await pipeline.afterCommitDone(config.shutdownGraceMs))) log.warn('after-commit steps still running at stop; the expiry sweep covers them');
      },
    });
    next('consumption pauses');
    const rt = this.rt;
    const pauses = new PauseWatcher({
      partitions: config.partitions,
      read: async () => (sabotage.ignorePauses ? [] : listPauses((sql, params) => rt.db.query(sql, params), def.schema)),
      onChange: (paused) => {
        rt.metrics.partitionsPaused.set(paused.size);
        return this.reconcile();
      },
      log,
    });
    await pauses.start();
    this.pauses = pauses;
    rt.metrics.partitionsPaused.set(pauses.paused.size);
    this.stack.push({ name: 'consumption pauses', stop: () => pauses.stop() });
    this.stack.push({ name: 'consumers', stop: () => this.stopConsumers() });
    this.stack.push({ name: 'partition assignment', stop: () => assigner.stop() });
    next('partition assignment');
    await assigner.start((owned) => this.setOwned(owned));
    next('http');

    this.startRetention();
    await this.startHttp();

    next('ready');
    clearInterval(slow);
    this._state = WorkerState.running;
    log.info({ partitions: config.partitions, owned: this.ownedPartitions.length, namespace: config.namespace, httpPort: this.httpPort, startMs: Date.now() - startedAt, stagesMs }, `${def.name} ready`);
  }

  private resequencer(partition: number): Resequencer {
    const { db, config, metrics } = this.rt!;
    return new Resequencer({
      partition,
      gapWaitMs: config.sequenceGapWaitMs,
      log: this.log,
      onGap: () => metrics.sequenceGaps.inc(),
      lookup: (streams) => appliedSequences((sql, params) => db.query(sql, params), db.schema, this.def.name, streams),
    });
  }

  private defaultAssigner(rt: Runtime): PartitionAssigner {
    const { config, metrics } = rt;
    if (config.ownership === 'all') return new AllPartitions(config.partitions);
    return new LeaseAssigner({
      redis: rt.redis,
      kind: this.def.kind,
      instance: config.instanceId,
      partitions: config.partitions,
      leaseTtlMs: config.leaseTtlMs,
      heartbeatMs: config.heartbeatMs,
      log: this.log,
      onMembers: (n) => metrics.leaseMembers.set(n),
      onHeartbeatFailure: () => metrics.leaseHeartbeatFailures.inc(),
      onRebalance: () => metrics.rebalances.inc(),
    });
  }

  private async startComponent(component: Component): Promise<void> {
    await component.start();
    this.stack.push({ name: component.name, stop: () => component.stop() });
  }

  private setOwned(assigned: number[]): Promise<void> {
    this.assigned = assigned;
    // Relaying follows the assignment, paused partitions included: their rows were committed
    // before the pause and still have to go out.
    this.relay?.setShards(assigned);
    return this.reconcile();
  }

  /**
   * Consumes what the assigner gives us minus what an operator paused. Serialized: changes
   * apply one at a time, each drain-first, always from the latest assignment and pauses.
   */
  private reconcile(): Promise<void> {
    // A failed change must not stall every later one: each starts from the settled previous.
    const run = this.ownership.catch(() => undefined).then(() => {
      const paused = this.pauses?.paused ?? new Set<number>();
      return this.applyOwned(new Set(this.assigned.filter((p) => !paused.has(p))));
    });
    this.ownership = run;
    return run;
  }

  /**
   * Lost partitions drain (their in-flight batch commits and acks, then the channel closes)
   * while gained ones subscribe at once: single active consumer holds a gained partition's
   * deliveries back until its previous owner has let go, so nothing waits on our own drains.
   */
  private async applyOwned(owned: Set<number>): Promise<void> {
    if (this._state === WorkerState.stopping || this._state === WorkerState.stopped || this._state === WorkerState.failed) return;
    const rt = this.runtime;
    const lost = [...this.consumers.keys()].filter((p) => !owned.has(p));
    const gained = [...owned].filter((p) => !this.consumers.has(p)).sort((a, b) => a - b);
    const paused = this.pauses?.paused;
    const drains = lost.map(async (p) => {
      const c = this.consumers.get(p)!;
      this.consumers.delete(p);
      this.draining.add(c);
      try {
        // An operator's pause is let go of within a bound; a rebalance hands the batch over whole.
        if (await c.stop(paused?.has(p) ? { abortAfterMs: PAUSED_BATCH_GRACE_MS } : {})) rt.metrics.givenBack.inc({ step: 'pause' });
      } finally {
        this.draining.delete(c);
      }
    });
    for (const p of gained) {
      // Subscribing takes a while per partition: a pause read meanwhile holds the rest back.
      if (this.pauses?.paused.has(p)) continue;
      const queue = partitionQueue(rt.topology.namespace, this.def.kind, p, rt.topology.partitions);
      const consumer = new PartitionConsumer({
        conn: this.amqp!,
        queue,
        partition: p,
        prefetch: rt.config.prefetch,
        batchSize: rt.config.batchSize,
        batchWaitMs: rt.config.batchWaitMs,
        log: this.log,
        order: rt.config.sequenceGapWaitMs > 0 ? this.resequencer(p) : undefined,
        arrived: (d) => this.pipeline!.lookAhead(d),
        process: (batch, ctl) => this.pipeline!.process(batch, ctl, p, queue),
      });
      this.consumers.set(p, consumer);
      await consumer.start();
    }
    await Promise.all(drains);
    rt.metrics.partitionsOwned.set(this.consumers.size);
    if (lost.length > 0 || gained.length > 0) this.log.info({ owned: this.ownedPartitions, gained, lost }, 'partition ownership changed');
  }

  private async stopConsumers(): Promise<void> {
    await this.ownership.catch(() => undefined);
    const all = [...this.consumers.values()];
    this.consumers.clear();
    await Promise.all(all.map((c) => c.stop()));
  }

  private startRetention(): void {
    const rt = this.runtime;
    const run = async () => {
      try {
        const n = await purgeInbox((sql, p) => rt.db.query(sql, p), rt.db.schema, rt.config.inboxRetentionMs, INBOX_PURGE_BATCH);
        if (n > 0) this.log.info({ purged: n }, 'inbox retention purged old rows');
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'inbox retention failed');
      }
    };
    const timer = setInterval(() => void run(), INBOX_PURGE_EVERY_MS);
    timer.unref();
    this.stack.push({ name: 'retention', stop: async () => clearInterval(timer) });
  }

  private async startHttp(): Promise<void> {
    const rt = this.runtime;
    const port = rt.config.httpPort;
    if (port < 0) return;
    this.http = new HealthServer(port, rt.metrics.registry, () => this.fatal === undefined && this._state !== WorkerState.failed, [
      { name: 'amqp', check: async () => this.amqp?.isConnected === true },
      { name: 'postgres', check: async () => (await rt.db.query('SELECT 1 AS ok')).length === 1 },
      { name: 'redis', check: async () => redisReady(rt.redis) && (await rt.redis.ping()) === 'PONG', required: false },
      { name: 'partitions', check: async () => this.partitionsReady() },
    ], this.def.httpRoutes?.(rt) ?? [], rt.config.maxMessageBytes, this.log);
    await this.http.start();
    const http = this.http;
    this.stack.push({ name: 'http', stop: () => http.stop() });
  }

  /**
   * Readiness: the assigner has a current view and every partition it gives us has a consumer,
   * except those an operator paused (a paused worker does what it was told).
   */
  private partitionsReady(): boolean {
    const a = this.assigner;
    if (!a?.settled || this._state !== WorkerState.running) return false;
    const paused = this.pauses?.paused ?? new Set<number>();
    if (!a.target) return this.consumers.size > 0 || paused.size >= this.config.partitions;
    return a.target.every((p) => paused.has(p) || this.consumers.has(p)) && (a.target.length > 0 || a.spare === true);
  }

  private async doStop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    if (this._state === WorkerState.stopped) return;
    this._state = WorkerState.stopping;
    this.log.info('stopping: draining partitions, flushing outbox');
    await this.unwind();
    this._state = WorkerState.stopped;
    this.log.info('stopped');
  }

  /** Force-aborts in-flight retries (grace period over). */
  forceAbort(): void {
    for (const c of [...this.consumers.values(), ...this.draining]) c.forceAbort();
  }

  private async unwind(): Promise<void> {
    while (this.stack.length > 0) {
      const part = this.stack.pop()!;
      try {
        await part.stop();
      } catch (err) {
        this.log.warn({ part: part.name, err: (err as Error).message }, 'stop step failed');
      }
    }
  }
}
