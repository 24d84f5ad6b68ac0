import { sameFingerprint } from '@stockflow/client/internal';
import type { BatchControl, Delivery } from '../../amqp/partition-consumer';
import type { LocalRelay } from '../../db/outbox';
import type { DedupFilter } from '../../redis/dedup-filter';
import { DUPLICATES_RECENT_MS, DuplicateWatch } from '../../redis/duplicate-watch';
import { DeadLetterPublisher } from '../dead-letter';
import type { ResolvedTestHooks } from '../test-hooks';
import type { Runtime, ServiceDefinition, UnitOfWork } from '../types';
import { AfterCommitSteps } from './after-commit';
import { ApplyStage, type Applied } from './apply-stage';
import { BatchRun, type Entry } from './batch-run';
import { decodeBatch } from './decode-stage';
import { PrepareStage } from './prepare-stage';
import { TransactionStep } from './transaction-step';

/**
 * One batch of one partition, end to end, as stages:
 *   decode (bad → dead letter) → duplicates Redis knows (acked without a transaction; asked
 *   only while duplicates arrive, DuplicateWatch)
 *   → prepare (outside the transaction) → apply (the transaction, merged across partitions,
 *   with retries and poison isolation) → ids reused with another payload (dead letter)
 *   → ack → metrics → after-commit steps.
 * A stage that gives the batch up (stopping, its channel gone, deliveries given back) ends the
 * run without an ack: the broker redelivers what was not settled.
 */
export class MessagePipeline<U extends UnitOfWork> {
  private readonly dead: DeadLetterPublisher;
  private readonly prepare: PrepareStage<U>;
  private readonly apply: ApplyStage<U>;
  private readonly afterCommit: AfterCommitSteps;
  /** Whether Redis is asked about a message at all (DuplicateWatch). */
  private readonly duplicates: DuplicateWatch;

  constructor(
    private readonly def: ServiceDefinition<U>,
    private readonly rt: Runtime,
    private readonly dedup: DedupFilter,
    private readonly hooks: ResolvedTestHooks,
    relay?: LocalRelay,
  ) {
    this.dead = new DeadLetterPublisher(rt, rt.policy);
    this.prepare = new PrepareStage(def, rt);
    this.apply = new ApplyStage(rt, new TransactionStep(def, rt, dedup, hooks, relay), this.prepare);
    this.afterCommit = new AfterCommitSteps(rt.log);
    this.duplicates = new DuplicateWatch(hooks.duplicatesRecentMs ?? DUPLICATES_RECENT_MS);
  }

  /** Starts the duplicate lookup of a delivery as it arrives (DedupFilter.lookAhead). */
  lookAhead(d: Delivery): void {
    if (this.rt.config.dedupFastPath && this.duplicates.worthAsking(d.msg.fields.redelivered)) this.dedup.lookAhead(d, d.msg.properties.messageId);
  }

  async process(batch: Delivery[], ctl: BatchControl, partition: number, queue: string): Promise<void> {
    const run = new BatchRun(batch, ctl, partition, queue, this.rt, this.dead);
    try {
      await this.runStages(run);
    } finally {
      run.end();
    }
  }

  /** Waits for the after-commit steps started so far, at most `timeoutMs`; the safety nets cover the rest. */
  afterCommitDone(timeoutMs: number): Promise<boolean> {
    return this.afterCommit.done(timeoutMs);
  }

  private async runStages(run: BatchRun): Promise<void> {
    const entries = await decodeBatch(run, this.def, this.rt);
    if (!entries) return;
    const known = await this.knownDuplicates(entries);
    const todo = entries.filter((e) => !known.has(e));
    if (!(await this.prepare.run(run, todo))) return;
    const ready = performance.now();
    const applied = await this.apply.run(run, run.unsettled(todo));
    if (applied === 'abandoned') return;
    if (!(await this.refuseReused(run, todo, applied))) return;
    if (this.hooks.afterCommit) await this.hooks.afterCommit(todo.filter((e) => applied.fresh.has(e.item.envelope.messageId)).map((e) => e.item));
    run.ackTheRest();
    this.observe(run, todo, applied, ready);
    await this.afterCommit.start(applied.afterCommit);
  }

  /** Entries Redis knows as committed with their own fingerprint: acked without a transaction. */
  private async knownDuplicates(entries: Entry[]): Promise<Set<Entry>> {
    if (!this.rt.config.dedupFastPath) return new Set();
    const asked = entries.filter((e) => this.duplicates.worthAsking(e.d.msg.fields.redelivered));
    if (asked.length === 0) return new Set();
    const remembered = await this.dedup.seenAmong(asked.map((e) => ({ key: e.d, id: e.item.envelope.messageId })));
    const known = new Set<Entry>();
    const byType = new Map<string, number>();
    for (const e of asked) {
      const fingerprint = remembered.get(e.d);
      if (fingerprint === undefined || !(this.hooks.sabotage.noFingerprint || sameFingerprint(e.item, fingerprint))) continue;
      known.add(e);
      byType.set(e.item.envelope.type, (byType.get(e.item.envelope.type) ?? 0) + 1);
    }
    for (const [type, n] of byType) {
      this.rt.metrics.duplicates.inc({ type, via: 'redis' }, n);
      this.rt.metrics.processed.inc({ type, outcome: 'duplicate' }, n);
    }
    this.duplicates.saw(known.size);
    return known;
  }

  /** A message whose id was applied before as another message is refused (id_reused), not acked as a duplicate. */
  private async refuseReused(run: BatchRun, todo: Entry[], applied: Applied): Promise<boolean> {
    for (const e of todo) {
      if (run.isSettled(e) || !applied.reused.has(e.item)) continue;
      this.rt.metrics.idReused.inc({ type: e.item.envelope.type });
      const error = `message id ${e.item.envelope.messageId} was applied before as another message (type or payload differ); refused, not dropped as a duplicate`;
      if (!(await run.deadLetter(e.d, 'id_reused', error))) return false;
    }
    return true;
  }

  /**
   * Metrics of the batch's settled entries. The counters are incremented once per type: a
   * labelled inc hashes its labels on every call, and a batch holds one or two types. The
   * histograms are observed per message, so that their means stay per message.
   */
  private observe(run: BatchRun, todo: Entry[], applied: Applied, ready: number): void {
    const now = Date.now();
    const { metrics } = this.rt;
    const { stages } = metrics;
    const preTransaction = (ready - run.started) / 1000;
    const transactionQueue = (applied.began - ready) / 1000;
    const transaction = (applied.committed - applied.began) / 1000;
    const byType = new Map<string, { applied: number; duplicate: number }>();
    for (const e of todo) {
      if (run.isSettled(e)) continue;
      const type = e.item.envelope.type;
      let t = byType.get(type);
      if (!t) byType.set(type, (t = { applied: 0, duplicate: 0 }));
      if (applied.fresh.has(e.item.envelope.messageId)) {
        t.applied++;
        metrics.latency.observe({ type }, (now - e.d.receivedAt) / 1000);
        stages.partitionQueue.observe(Math.max(0, run.startedAt - e.d.receivedAt) / 1000);
        stages.preTransaction.observe(preTransaction);
        stages.transactionQueue.observe(transactionQueue);
        stages.transaction.observe(transaction);
      } else t.duplicate++;
    }
    for (const [type, t] of byType) {
      if (t.applied > 0) metrics.processed.inc({ type, outcome: 'applied' }, t.applied);
      this.duplicates.saw(t.duplicate);
      if (t.duplicate > 0) {
        metrics.duplicates.inc({ type, via: 'inbox' }, t.duplicate);
        metrics.processed.inc({ type, outcome: 'duplicate' }, t.duplicate);
      }
    }
  }
}
