import type { Span } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import type { EntitySchema, MigrationInterface } from 'typeorm';
import { type CommandType, type ConfirmPublisher, type Envelope, type EventType, type MessageType, type Payload, type WorkerKind } from '@stockflow/client/internal';
import type { TopologyOptions } from '../amqp/topology';
import type { CommonConfig } from '../config';
import type { Database, Tx } from '../db/database';
import type { DatabaseIdentity } from '../db/identity';
import type { WorkerMetrics } from '../http/metrics';
import type { HttpRoute } from '../http/server';
import type { Logger } from '../logger';
import type { RetryPolicy } from '../retry/policy';
import type { Sabotage } from './test-hooks';

/** A decoded, valid message on its way through the pipeline. */
export interface WorkItem {
  envelope: Envelope;
  payload: unknown;
  /** Raw body and headers, for handlers that verify signatures. */
  raw: Buffer;
  headers: Record<string, unknown>;
  /** What the message id stands for (type and payload, hashed): a reuse of the id with another one is refused. */
  fingerprint: string;
  /** Its fingerprint in the older version it was sent as, which a worker of that version recorded. */
  earlierFingerprints?: readonly string[];
  /** Result of the handler's prepare() step, when it has one. */
  prepared?: unknown;
  /** The message's trace span: what it emits carries its traceparent. */
  span?: Span;
}

export interface HandlerContext<U> {
  readonly uow: U;
  readonly envelope: Envelope;
  readonly item: WorkItem;
  readonly log: Logger;
  readonly now: Date;
  /** Appends an event to the outbox (published only if the transaction commits). */
  emit<T extends EventType>(type: T, payload: Payload<T>): void;
  /** Appends a command for another worker to the outbox. */
  send<T extends CommandType>(type: T, payload: Payload<T>): void;
  /** Runs after COMMIT (best effort: Redis schedules and the like, never the truth). */
  afterCommit(fn: () => Promise<void> | void): void;
}

export interface PrepareContext {
  readonly envelope: Envelope;
  readonly item: WorkItem;
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

/**
 * One handler per message type, in its own file named after the message.
 * MUST hold: handle() touches only rows the unit of work locked in load(); refusals are
 * emitted as events, not thrown; throwing PermanentMessageError dead-letters the message.
 */
export interface Handler<U, T extends MessageType = MessageType> {
  readonly type: T;
  /**
   * Checks what a schema cannot (a signature over the raw bytes) as the message is decoded,
   * before it costs a duplicate lookup, a prepare() or a transaction. Throwing
   * PermanentMessageError dead-letters it with that reason.
   */
  check?(item: WorkItem): void;
  /** Registers the rows this message will touch, so the batch can lock them all up front. */
  declare?(uow: U, payload: Payload<T>): void;
  /**
   * Work outside the transaction (an HTTP call to a payment provider). Must be idempotent:
   * it runs again when the transaction is retried or the message redelivered.
   */
  prepare?(payload: Payload<T>, ctx: PrepareContext): Promise<unknown>;
  /**
   * Undoes what prepare() did outside the transaction when the message is dead-lettered after
   * it (the transaction that records it failed for good): a charge that cannot be recorded is
   * refunded, never forgotten. Returns what it did, for the dead letter's headers. Must be
   * idempotent; failures are retried like prepare().
   */
  compensate?(payload: Payload<T>, ctx: PrepareContext, prepared: unknown): Promise<string>;
  /**
   * prepare() kept failing transiently past its retry budget (a dependency stays down): what
   * to carry on with instead, as prepare()'s result (payments: record the charge's outcome as
   * unknown, for the pending sweep). Without it the message is dead-lettered
   * (dependency_unavailable).
   */
  exhausted?(payload: Payload<T>, ctx: PrepareContext, err: unknown): unknown;
  handle(ctx: HandlerContext<U>, payload: Payload<T>): Promise<void>;
}

/** The service's view of one transaction: locks and loads in load(), writes in flush(). */
export interface UnitOfWork {
  load(): Promise<void>;
  flush(): Promise<void>;
}

export type HandlerMap<U> = { [T in MessageType]?: Handler<U, T> };

/** Everything a service contributes to the generic worker. */
export interface ServiceDefinition<U extends UnitOfWork> {
  kind: WorkerKind;
  /** Name used in logs, metrics, connection names and the inbox `consumer` column. */
  name: string;
  schema: string;
  migrations: (new () => MigrationInterface)[];
  entities: EntitySchema[];
  handlers: HandlerMap<U>;
  createUnitOfWork(tx: Tx, runtime: Runtime): U;
  /** Extra endpoints on the worker's HTTP server (health and metrics are always there). */
  httpRoutes?(runtime: Runtime): HttpRoute[];
  /** Extra long-running parts (schedulers, sweepers), started after consumers, stopped before. */
  components?(runtime: Runtime): Component[];
}

/** Started in order, stopped in reverse; start()/stop() are safe to call twice. */
export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** What a running worker offers to its service's parts. */
export interface Runtime {
  readonly config: CommonConfig;
  readonly log: Logger;
  readonly db: Database;
  readonly redis: Redis | undefined;
  readonly publisher: ConfirmPublisher;
  readonly topology: TopologyOptions;
  readonly metrics: WorkerMetrics;
  /** Test-only breakage (test-hooks.ts); all false in production. */
  readonly sabotage: Sabotage;
  /** The one retry policy (classification, backoff, budgets): retry/policy.ts. */
  readonly policy: RetryPolicy;
  /** The service database's identity (child message ids, the Redis duplicate filter's keys). */
  readonly identity: DatabaseIdentity;
  /**
   * Declares the whole topology again (at most once per few seconds, concurrent calls share
   * one): a publish that came back unroutable, or closed its channel, may have met a queue,
   * binding or exchange somebody deleted.
   */
  repairTopology(): Promise<void>;
}
