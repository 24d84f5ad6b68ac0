import type { BatchControl, Delivery } from '../amqp/partition-consumer';
import type { Span } from '@opentelemetry/api';
import { startMessageSpan, traceHeaders } from '../tracing/message-spans';
import { childMessageId, contracts, sameFingerprint, decode, type Envelope, MESSAGE_ID_PATTERN, type MessageType, propertiesOf, settledWithin, sleep } from '@stockflow/client/internal';
import { deliveryOf } from '../amqp/topology';
import { claimInbox, processedIds } from '../db/inbox';
import { writeOutbox, type LocalRelay, type OutboxRow } from '../db/outbox';
import { PermanentMessageError, type DeadLetterReason } from '../errors';
import { messageLogger, type Logger } from '../logger';
import type { DedupFilter } from '../redis/dedup-filter';
import { BUDGETS } from '../retry/policy';
import { DEAD_LETTER_HEADERS, DeadLetterPublisher } from './dead-letter';
import { GroupCommit, MergedTransactionFailed, TX_MAX_MESSAGES, TX_OVERLAP_MS } from './group-commit';
import type { Handler, HandlerContext, PrepareContext, Runtime, ServiceDefinition, UnitOfWork, WorkItem } from './types';

/** Test seams on the real path (tests inject faults here; production passes none). */
export interface PipelineHooks {
  /** Inside the transaction, just before COMMIT: throw to simulate a failure there. */
  beforeCommit?(items: WorkItem[], attempt: number): void | Promise<void>;
  /** After COMMIT, before the ack: the window a crash turns into a redelivery. */
  afterCommit?(items: WorkItem[]): void | Promise<void>;
}

/**
 * Child-process form of afterCommit for crash tests: with STOCKFLOW_TEST_EXIT_AFTER_COMMIT=<type>
 * (and sabotage allowed) the process exits hard right after committing a fresh message of that
 * type, before acking it.
 */
export function exitAfterCommitHook(type: string | undefined, allowed: boolean): PipelineHooks {
  if (!type || !allowed) return {};
  return {
    afterCommit(items) {
      if (items.some((i) => i.envelope.type === type)) process.kill(process.pid, 'SIGKILL');
    },
  };
}

interface Entry {
  d: Delivery;
  item: WorkItem;
}

type AfterCommit = () => Promise<void> | void;

/** One partition's batch inside a (possibly merged) transaction. */
interface TxPart {
  items: WorkItem[];
  partition: number;
  afterCommit: AfterCommit[];
}

/** What one transaction did: the ids it claimed fresh, the ids it found reused, and when it ran (performance.now()). */
interface Committed {
  fresh: Set<string>;
  /** Items whose id was claimed before with another type or payload: dead-lettered (id_reused), not acked as duplicates. */
  reused: Set<WorkItem>;
  began: number;
  committed: number;
}

/** What apply() did: its transaction's result, and the steps for after the ack. */
interface Applied extends Committed {
  afterCommit: AfterCommit[];
}

/** Batches whose after-commit steps may run at once before a partition waits for its own. */
const MAX_AFTER_COMMIT_IN_FLIGHT = 256;

function reasonOf(err: unknown): DeadLetterReason {
  return err instanceof PermanentMessageError ? err.reason : 'handler_error';
}

/**
 * One batch of one partition, end to end:
 *   decode → (bad → dead queue) → Redis duplicate fast path → prepare (outside the tx) →
 *   BEGIN; claim inbox; lock + load; handlers in order; flush; outbox; COMMIT → ack.
 * The transaction may carry the batches of other partitions too (GroupCommit); a merged
 * transaction that fails is retried as its separate batches before anything below applies.
 * Transient failures retry the same batch in place, so nothing later in the partition can
 * overtake it; past their budget (retry/policy.ts) the partition gives its deliveries back to
 * the broker. A batch that fails for a message-specific reason is re-run one message per
 * transaction, so a poison message is isolated and dead-lettered alone (after compensate()
 * undid what its prepare() did outside the transaction).
 */
export class MessagePipeline<U extends UnitOfWork> {
  private readonly group: GroupCommit<TxPart, Committed> | undefined;
  /** The Redis duplicate lookup each delivery got when it arrived (lookAhead): id → fingerprint applied. */
  private readonly lookups = new WeakMap<Delivery, Promise<Map<string, string>>>();
  /** Arrived in this turn of the event loop; looked up together. */
  private arriving: Delivery[] = [];
  /** After-commit steps of committed batches still running (see process()). */
  private readonly afterCommitInFlight = new Set<Promise<void>>();
  private readonly dead: DeadLetterPublisher;

  constructor(
    private readonly def: ServiceDefinition<U>,
    private readonly rt: Runtime,
    private readonly dedup: DedupFilter,
    private readonly hooks: PipelineHooks = {},
    /** The local outbox relay: committed outbox rows go to it in memory (OutboxRelay.handoff). */
    private readonly relay?: LocalRelay,
  ) {
    const { txConcurrency } = rt.config;
    const merged = (parts: TxPart[]) => {
      rt.metrics.mergedBatches.observe(parts.length);
      return this.applyOnce(parts, 0);
    };
    this.group = txConcurrency > 0 ? new GroupCommit(merged, { concurrency: txConcurrency, maxMessages: TX_MAX_MESSAGES, overlapAfterMs: TX_OVERLAP_MS }) : undefined;
    this.dead = new DeadLetterPublisher(rt, rt.policy);
  }

  private get consumer(): string {
    return this.def.name;
  }

  async process(batch: Delivery[], ctl: BatchControl, partition: number, queue: string): Promise<void> {
    const spans: Span[] = [];
    try {
      await this.processTraced(batch, ctl, partition, queue, spans);
    } finally {
      for (const span of spans) span.end();
    }
  }

  private async processTraced(batch: Delivery[], ctl: BatchControl, partition: number, queue: string, spans: Span[]): Promise<void> {
    const startedAt = Date.now();
    const started = performance.now();
    const acked = new Set<Delivery>();
    const entries: Entry[] = [];
    for (const d of batch) {
      if (d.msg.fields.redelivered) this.rt.metrics.redeliveries.inc();
      try {
        const decoded = decode(d.msg, this.rt.config.maxMessageBytes);
        if (!this.def.handlers[decoded.envelope.type as MessageType]) {
          throw new PermanentMessageError('unknown_type', `${this.def.name} has no handler for ${decoded.envelope.type}`);
        }
        const span = startMessageSpan(decoded.envelope, decoded.headers, this.def.name, partition);
        spans.push(span);
        const item: WorkItem = { envelope: decoded.envelope, payload: decoded.payload, raw: decoded.raw, headers: decoded.headers, fingerprint: decoded.fingerprint, earlierFingerprints: decoded.earlierFingerprints, span };
        this.handlerOf(item.envelope).check?.(item);
        entries.push({ d, item });
      } catch (err) {
        const reason = err instanceof PermanentMessageError ? err.reason : 'invalid_envelope';
        if (!(await this.dead.publish(d, ctl, { reason, error: (err as Error).message, queue, partition }))) return;
        acked.add(d);
      }
    }

    const seen = this.rt.config.dedupFastPath ? await this.seen(entries) : new Set<Entry>();
    const todo = entries.filter((e) => !seen.has(e));
    for (const e of entries) {
      if (seen.has(e)) {
        this.rt.metrics.duplicates.inc({ type: e.item.envelope.type, via: 'redis' });
        this.rt.metrics.processed.inc({ type: e.item.envelope.type, outcome: 'duplicate' });
      }
    }

    if (!(await this.prepare(todo, ctl, partition, queue, acked))) return;
    const ready = performance.now();
    const result = await this.apply(todo.filter((e) => !acked.has(e.d)), ctl, partition, queue, acked);
    if (result === 'abandoned') return;
    for (const e of todo) {
      if (acked.has(e.d) || !result.reused.has(e.item)) continue;
      this.rt.metrics.idReused.inc({ type: e.item.envelope.type });
      const error = `message id ${e.item.envelope.messageId} was applied before as another message (type or payload differ); refused, not dropped as a duplicate`;
      if (!(await this.dead.publish(e.d, ctl, { reason: 'id_reused', error, queue, partition }))) return;
      acked.add(e.d);
    }
    if (this.hooks.afterCommit) await this.hooks.afterCommit(todo.filter((e) => result.fresh.has(e.item.envelope.messageId)).map((e) => e.item));

    const last = [...batch].reverse().find((d) => !acked.has(d));
    if (last) ctl.ack(last, true);

    const now = Date.now();
    const { stages } = this.rt.metrics;
    for (const e of todo) {
      if (acked.has(e.d)) continue;
      const type = e.item.envelope.type;
      if (result.fresh.has(e.item.envelope.messageId)) {
        this.rt.metrics.processed.inc({ type, outcome: 'applied' });
        this.rt.metrics.latency.observe({ type }, (now - e.d.receivedAt) / 1000);
        stages.partitionQueue.observe(Math.max(0, startedAt - e.d.receivedAt) / 1000);
        stages.preTransaction.observe((ready - started) / 1000);
        stages.transactionQueue.observe((result.began - ready) / 1000);
        stages.transaction.observe((result.committed - result.began) / 1000);
      } else {
        this.rt.metrics.duplicates.inc({ type, via: 'inbox' });
        this.rt.metrics.processed.inc({ type, outcome: 'duplicate' });
      }
    }
    if (result.afterCommit.length > 0) {
      // Not awaited: a reservation partition's next batch would wait a Redis round trip (the
      // expiry schedule) and miss the next transaction. Started here, in commit order, and each
      // step sends its command before it awaits anything, so one Redis connection keeps their
      // order (a hold's entry is added before a later release removes it). Not chained one
      // after another either: a round trip at a time fell behind 1 200 reservations a second
      // and ran the worker out of memory. Past MAX_AFTER_COMMIT_IN_FLIGHT batches the
      // partition waits after all, so a stalled Redis cannot pile them up.
      const steps = this.startAfterCommit(result.afterCommit);
      if (this.afterCommitInFlight.size > MAX_AFTER_COMMIT_IN_FLIGHT) await steps;
    }
  }

  private startAfterCommit(steps: AfterCommit[]): Promise<void> {
    const running = Promise.allSettled(steps.map((fn) => Promise.resolve().then(fn))).then((results) => {
      for (const r of results) if (r.status === 'rejected') this.rt.log.warn({ err: (r.reason as Error).message }, 'after-commit step failed (a safety net covers it)');
    });
    this.afterCommitInFlight.add(running);
    void running.finally(() => this.afterCommitInFlight.delete(running));
    return running;
  }

  /**
   * Waits for the after-commit steps started so far (stop: before Redis closes), at most
   * `timeoutMs`; what is left then is covered by the safety nets (the expiry sweep).
   */
  afterCommitDone(timeoutMs: number): Promise<boolean> {
    return settledWithin(Promise.all(this.afterCommitInFlight), timeoutMs);
  }

  /**
   * Starts the Redis duplicate lookup of a delivery as it arrives. Below full load a delivery
   * waits behind its partition's batch in the running transaction; looked up only when its own
   * batch started, it spent a Redis round trip (half load: a mean 5–9 ms on a busy host) between
   * that commit and joining the next transaction, and so missed it (GroupCommit starts the next
   * one a turn after a commit, for the batches ready by then). A lookup made early can only miss
   * more: an id committed after it is not seen, and the inbox claim absorbs the copy.
   */
  lookAhead(d: Delivery): void {
    if (!this.rt.config.dedupFastPath) return;
    if (this.arriving.length === 0) setImmediate(() => this.lookUpArrived());
    this.arriving.push(d);
  }

  private lookUpArrived(): void {
    if (this.arriving.length === 0) return;
    const arrived = this.arriving;
    this.arriving = [];
    // Not yet decoded: an id that decode() will reject is not worth a Redis key.
    const ids = arrived.map((d) => d.msg.properties.messageId as unknown).filter((id): id is string => typeof id === 'string' && MESSAGE_ID_PATTERN.test(id));
    const lookup = this.dedup.seen(ids);
    for (const d of arrived) this.lookups.set(d, lookup);
  }

  /**
   * Entries of the batch whose id Redis knows as committed with their own fingerprint: the
   * arrival lookups, and one now for the rest. Per entry, not per id: a copy and a reuse of one
   * id may share a batch, and only the copy is a duplicate (the inbox refuses the reuse).
   */
  private async seen(entries: Entry[]): Promise<Set<Entry>> {
    this.lookUpArrived();
    const pending = new Set<Promise<Map<string, string>>>();
    const rest: string[] = [];
    for (const e of entries) {
      const early = this.lookups.get(e.d);
      if (early) pending.add(early);
      else rest.push(e.item.envelope.messageId);
    }
    if (rest.length > 0) pending.add(this.dedup.seen(rest));
    const remembered = new Map<string, string>();
    for (const hits of await Promise.all(pending)) for (const [id, fingerprint] of hits) remembered.set(id, fingerprint);
    const same = (e: Entry) => remembered.has(e.item.envelope.messageId) && (this.rt.sabotage.noFingerprint || sameFingerprint(e.item, remembered.get(e.item.envelope.messageId)!));
    return new Set(entries.filter(same));
  }

  /**
   * Runs prepare() of messages not yet in the inbox, in order, within BUDGETS.prepare. A message
   * whose prepare() fails for good (permanent, or unknown past its budget) is dead-lettered and
   * dropped from the batch; one whose dependency stays down past the transient budget goes to
   * its handler's exhausted(), or is dead-lettered as dependency_unavailable. Returns false when
   * the batch was abandoned (stopping, its channel is gone, or it was given back).
   */
  private async prepare(todo: Entry[], ctl: BatchControl, partition: number, queue: string, acked: Set<Delivery>): Promise<boolean> {
    const needing = todo.filter((e) => this.handlerOf(e.item.envelope).prepare !== undefined);
    if (needing.length === 0) return true;
    for (let attempt = 0; ; attempt++) {
      if (ctl.signal.aborted || needing.every((e) => ctl.isStale(e.d))) return false;
      let current: Entry | undefined;
      try {
        const done = await processedIds((sql, p) => this.rt.db.query(sql, p), this.rt.db.schema, this.consumer, needing.map((e) => e.item.envelope.messageId));
        for (const e of needing) {
          if (acked.has(e.d) || done.has(e.item.envelope.messageId) || e.item.prepared !== undefined) continue;
          current = e;
          e.item.prepared = await this.handlerOf(e.item.envelope).prepare!(e.item.payload as never, this.prepareContext(e, ctl, partition));
        }
        return true;
      } catch (err) {
        const next = this.rt.policy.next(err, attempt, BUDGETS.prepare);
        if (next.retry) {
          this.rt.metrics.transientRetries.inc({ kind: 'prepare' });
          this.rt.log.warn({ err: (err as Error).message, partition, attempt, retryInMs: next.delayMs }, 'prepare step failed; retrying');
          await sleep(next.delayMs, ctl.signal);
          continue;
        }
        if (!current) {
          // The inbox look-up itself (Postgres) kept failing: nothing about a message.
          this.giveBack(ctl, 'prepare', err, partition);
          return false;
        }
        const handler = this.handlerOf(current.item.envelope);
        if (next.kind === 'transient' && handler.exhausted) {
          current.item.prepared = handler.exhausted(current.item.payload as never, this.prepareContext(current, ctl, partition), err);
        } else {
          const reason: DeadLetterReason = next.kind === 'transient' ? 'dependency_unavailable' : reasonOf(err);
          if (!(await this.dead.publish(current.d, ctl, { reason, error: (err as Error).message, queue, partition }))) return false;
          acked.add(current.d);
        }
        attempt = -1;
      }
    }
  }

  private prepareContext(e: Entry, ctl: BatchControl, partition: number): PrepareContext {
    return {
      envelope: e.item.envelope,
      item: e.item,
      runtime: this.rt,
      log: messageLogger(this.rt.log, { messageId: e.item.envelope.messageId, type: e.item.envelope.type, partition, correlationId: e.item.envelope.correlationId }),
      signal: ctl.signal,
    };
  }

  /** Past a budget with nothing wrong with any one message: every delivery goes back to the broker (x-delivery-limit counts). */
  private giveBack(ctl: BatchControl, step: string, err: unknown, partition: number): void {
    this.rt.log.error({ err: (err as Error).message, partition, step }, 'retries exhausted; giving the partition\'s deliveries back to the broker');
    this.rt.metrics.givenBack.inc({ step });
    ctl.giveBack();
  }

  /**
   * Before a message whose prepare() acted outside the transaction is dead-lettered: its
   * handler's compensate() undoes that (refunds a charge nobody will record), within
   * BUDGETS.compensation. Returns the headers that say what happened, or 'abandoned'.
   */
  private async compensate(e: Entry, ctl: BatchControl, partition: number): Promise<Record<string, string> | 'abandoned'> {
    const handler = this.handlerOf(e.item.envelope);
    if (!handler.compensate || e.item.prepared === undefined) return {};
    const ctx = this.prepareContext(e, ctl, partition);
    for (let attempt = 0; ; attempt++) {
      if (ctl.signal.aborted || ctl.isStale(e.d)) return 'abandoned';
      try {
        const done = await handler.compensate(e.item.payload as never, ctx, e.item.prepared);
        this.rt.metrics.compensations.inc({ outcome: 'done' });
        ctx.log.warn({ compensation: done }, 'compensated what prepare() did before dead-lettering');
        return { [DEAD_LETTER_HEADERS.compensation]: done.slice(0, 500) };
      } catch (err) {
        const next = this.rt.policy.next(err, attempt, BUDGETS.compensation);
        if (!next.retry) {
          this.rt.metrics.compensations.inc({ outcome: 'failed' });
          ctx.log.error({ err: (err as Error).message }, 'compensation failed; dead-lettering with it marked failed (needs a person)');
          return { [DEAD_LETTER_HEADERS.compensation]: `failed: ${(err as Error).message}`.slice(0, 500) };
        }
        await sleep(next.delayMs, ctl.signal);
      }
    }
  }

  private async apply(
    entries: Entry[],
    ctl: BatchControl,
    partition: number,
    queue: string,
    acked: Set<Delivery>,
    mergeable = true,
  ): Promise<'abandoned' | Applied> {
    const none = (): Applied => ({ fresh: new Set(), reused: new Set(), afterCommit: [], began: performance.now(), committed: performance.now() });
    if (entries.length === 0) return none();
    let merge = mergeable && this.group !== undefined;
    for (let attempt = 0; ; attempt++) {
      if (ctl.signal.aborted || entries.every((e) => ctl.isStale(e.d))) return 'abandoned';
      const part: TxPart = { items: entries.map((e) => e.item), partition, afterCommit: [] };
      try {
        const done = merge && this.group ? await this.group.submit(part, part.items.length) : await this.applyOnce([part], attempt);
        return { ...done, afterCommit: part.afterCommit };
      } catch (err) {
        if (err instanceof MergedTransactionFailed) {
          // Not this batch's failure yet: it goes again alone, at once, and only what fails
          // there counts against it.
          merge = false;
          attempt--;
          continue;
        }
        const next = this.rt.policy.next(err, attempt, BUDGETS.transaction);
        if (next.retry) {
          this.rt.metrics.transientRetries.inc({ kind: next.kind });
          this.rt.log.warn({ err: (err as Error).message, code: (err as { code?: string }).code, partition, batch: entries.length, attempt, retryInMs: next.delayMs }, 'batch failed; retrying in place');
          await sleep(next.delayMs, ctl.signal);
          continue;
        }
        if (next.kind === 'transient') {
          this.giveBack(ctl, 'transaction', err, partition);
          return 'abandoned';
        }
        if (entries.length > 1) {
          // Isolate the culprit: one transaction per message, in order.
          this.rt.log.warn({ err: (err as Error).message, partition, batch: entries.length }, 'batch failed permanently; applying one by one');
          // Timed from the first of these transactions' BEGIN to the last one's COMMIT.
          const one: Applied = { ...none(), began: Infinity };
          for (const e of entries) {
            const r = await this.apply([e], ctl, partition, queue, acked, false);
            if (r === 'abandoned') return r;
            r.fresh.forEach((id) => one.fresh.add(id));
            r.reused.forEach((id) => one.reused.add(id));
            one.afterCommit.push(...r.afterCommit);
            one.began = Math.min(one.began, r.began);
            one.committed = r.committed;
          }
          return one;
        }
        const entry = entries[0]!;
        const compensation = await this.compensate(entry, ctl, partition);
        if (compensation === 'abandoned') return compensation;
        if (!(await this.dead.publish(entry.d, ctl, { reason: reasonOf(err), error: (err as Error).message, queue, partition, headers: compensation }))) return 'abandoned';
        acked.add(entry.d);
        return none();
      }
    }
  }

  /** One transaction for the batches of one or more partitions: the ids it claimed fresh, and when it ran. */
  private async applyOnce(parts: TxPart[], attempt: number): Promise<Committed> {
    const { db, sabotage, metrics } = this.rt;
    const items = parts.length === 1 ? parts[0]!.items : parts.flatMap((p) => p.items);
    const partOf = new Map<WorkItem, TxPart>();
    for (const p of parts) for (const i of p.items) partOf.set(i, p);
    // Set once the transaction has its connection: waiting for the pool is transaction_queue.
    let began = 0;
    const outcome = await db.transaction(async (tx) => {
      began = performance.now();
      // The claim and the first statements of load() go to Postgres in one round trip: rows
      // are declared for every message before the claim has told duplicates apart. A
      // duplicate's rows are then locked for nothing (the Redis fast path keeps those rare),
      // and rows created up front for it are removed again by flush().
      const uow = this.def.createUnitOfWork(tx, this.rt);
      for (const item of items) this.handlerOf(item.envelope).declare?.(uow, item.payload as never);
      const lockStart = process.hrtime.bigint();
      const claiming = sabotage.noInbox
        ? Promise.resolve({ fresh: new Set(items.map((i) => i.envelope.messageId)), reused: new Set<WorkItem>() })
        : claimInbox(tx, db.schema, this.consumer, sabotage.noFingerprint ? items.map((i) => ({ ...i, fingerprint: '' })) : items);
      const loading = uow.load();
      loading.catch(() => undefined);
      const claimed = await claiming;
      await loading;
      metrics.lockWait.observe(Number(process.hrtime.bigint() - lockStart) / 1e9);
      const work: WorkItem[] = [];
      /** The item that claimed each id in this transaction: a copy later in the batch must be the same message. */
      const taken = new Map<string, WorkItem>();
      for (const item of items) {
        const id = item.envelope.messageId;
        if (!claimed.fresh.has(id)) continue;
        const first = taken.get(id);
        if (first !== undefined && !sabotage.noInbox) {
          if (!sameFingerprint(item, first.fingerprint) && !sameFingerprint(first, item.fingerprint) && !sabotage.noFingerprint) claimed.reused.add(item);
          continue;
        }
        taken.set(id, item);
        work.push(item);
      }
      if (work.length === 0) await uow.flush();
      else {
        metrics.batchSize.observe(work.length);
        const outbox: OutboxRow[] = [];
        for (const item of work) {
          const part = partOf.get(item)!;
          await this.handlerOf(item.envelope).handle(this.context(uow, item, outbox, part.afterCommit, part.partition), item.payload as never);
        }
        await uow.flush();
        // Handed over the moment COMMIT returns: two batches that touched one row reach the
        // relay in the order they committed (the later one needs more round trips after the
        // earlier one's COMMIT released the row).
        writeOutbox(
          tx,
          db.schema,
          outbox,
          this.relay && {
            relay: this.relay,
            query: (sql, p) => db.query(sql, p),
            onNotifyError: (err) => this.rt.log.warn({ err: (err as Error).message }, 'outbox NOTIFY after a lost hand-off failed; the leader\'s periodic read will find the rows'),
          },
        );
      }
      await this.hooks.beforeCommit?.(work, attempt);
      return { fresh: new Set(taken.keys()), reused: claimed.reused };
    });
    // Every id of a committed transaction is in the inbox now: claimed here, or by the
    // transaction a copy was waiting for. Sent with the next lookup, not per partition batch
    // (at half load a transaction merges about twenty), and never waited for: the ack must not
    // wait for the fast path, which a lost write only makes slower.
    this.dedup.remember(items.filter((i) => !outcome.reused.has(i)).map((i) => ({ id: i.envelope.messageId, fingerprint: i.fingerprint })));
    return { ...outcome, began, committed: performance.now() };
  }

  private handlerOf(env: Envelope): Handler<U> {
    return this.def.handlers[env.type as MessageType] as unknown as Handler<U>;
  }

  private context(uow: U, item: WorkItem, outbox: OutboxRow[], afterCommit: AfterCommit[], partition: number): HandlerContext<U> {
    const parent = item.envelope;
    const rt = this.rt;
    let log: Logger | undefined;
    const append = (type: MessageType, payload: unknown) => {
      const parsed = contracts[type].schema.safeParse(payload);
      if (!parsed.success) throw new Error(`handler built an invalid ${type}: ${parsed.error.message}`);
      const partitionKey = contracts[type].partitionKey(payload as never);
      const route = deliveryOf(rt.topology, type, partitionKey);
      const envelope: Envelope = {
        messageId: childMessageId(parent.messageId, outbox.length, rt.identity.token),
        type,
        version: contracts[type].version,
        occurredAt: new Date().toISOString(),
        correlationId: parent.correlationId,
        causationId: parent.messageId,
        partitionKey,
      };
      outbox.push({
        messageId: envelope.messageId,
        type,
        exchange: route.exchange,
        routingKey: route.routingKey,
        mandatory: route.mandatory,
        properties: { ...propertiesOf(envelope, traceHeaders(item.span)) },
        payload: JSON.stringify(payload),
        watchExchange: route.watch?.exchange ?? null,
        watchRoutingKey: route.watch?.routingKey ?? null,
      });
    };
    return {
      uow,
      item,
      envelope: parent,
      now: new Date(),
      get log() {
        return (log ??= messageLogger(rt.log, { messageId: parent.messageId, type: parent.type, partition, correlationId: parent.correlationId }));
      },
      emit: (type, payload) => append(type, payload),
      send: (type, payload) => append(type, payload),
      afterCommit: (fn) => afterCommit.push(fn),
    };
  }
}
