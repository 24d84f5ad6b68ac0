import { sleep } from '@stockflow/client/internal';
import { BUDGETS } from '../../retry/policy';
import { GroupCommit, MergedTransactionFailed, TX_MAX_MESSAGES, TX_OVERLAP_MS } from '../group-commit';
import type { Runtime, UnitOfWork } from '../types';
import type { BatchRun, Entry } from './batch-run';
import type { AfterCommit } from './handler-context';
import type { PrepareStage } from './prepare-stage';
import { reasonOf } from './prepare-stage';
import type { Committed, TransactionStep, TxPart } from './transaction-step';

/** What the apply stage did: its transaction's result, and the steps for after the ack. */
export interface Applied extends Committed {
  afterCommit: AfterCommit[];
}

/**
 * Applies a batch in a transaction, merged with other partitions' batches when GroupCommit is
 * on, and decides what a failure means (retry/policy.ts):
 *   merged transaction failed  → this batch again alone, at once (not yet its failure)
 *   transient, within budget   → the same batch again in place after backoff, so nothing later
 *                                in the partition can overtake it
 *   transient, past budget     → the partition gives its deliveries back to the broker
 *   permanent or unknown       → a batch of several is re-run one message per transaction, so
 *                                the culprit is isolated; a single message is compensated and
 *                                dead-lettered alone
 */
export class ApplyStage<U extends UnitOfWork> {
  private readonly group: GroupCommit<TxPart, Committed> | undefined;

  constructor(
    private readonly rt: Runtime,
    private readonly tx: Pick<TransactionStep<U>, 'run'>,
    private readonly prepare: Pick<PrepareStage<U>, 'compensate'>,
  ) {
    const { txConcurrency } = rt.config;
    const merged = (parts: TxPart[]) => {
      rt.metrics.mergedBatches.observe(parts.length);
      return this.tx.run(parts, 0);
    };
    this.group = txConcurrency > 0 ? new GroupCommit(merged, { concurrency: txConcurrency, maxMessages: TX_MAX_MESSAGES, overlapAfterMs: TX_OVERLAP_MS }) : undefined;
  }

  /** 'abandoned': the batch is no longer this run's to finish (stopping, stale, or given back). */
  async run(run: BatchRun, entries: Entry[], mergeable = true): Promise<'abandoned' | Applied> {
    if (entries.length === 0) return nothingApplied();
    let merge = mergeable && this.group !== undefined;
    for (let attempt = 0; ; attempt++) {
      if (run.abandoned(entries)) return 'abandoned';
      const part: TxPart = { items: entries.map((e) => e.item), partition: run.partition, afterCommit: [] };
      try {
        const done = merge && this.group ? await this.group.submit(part, part.items.length) : await this.tx.run([part], attempt);
        return { ...done, afterCommit: part.afterCommit };
      } catch (err) {
        if (err instanceof MergedTransactionFailed) {
          merge = false;
          attempt--;
          continue;
        }
        const next = this.rt.policy.next(err, attempt, BUDGETS.transaction);
        if (next.retry) {
          this.rt.metrics.transientRetries.inc({ kind: next.kind });
          this.rt.log.warn({ err: (err as Error).message, code: (err as { code?: string }).code, partition: run.partition, batch: entries.length, attempt, retryInMs: next.delayMs }, 'batch failed; retrying in place');
          await sleep(next.delayMs, run.signal);
          continue;
        }
        if (next.kind === 'transient') {
          run.giveBack('transaction', err);
          return 'abandoned';
        }
        if (entries.length > 1) {
          this.rt.log.warn({ err: (err as Error).message, partition: run.partition, batch: entries.length }, 'batch failed permanently; applying one by one');
          return this.oneByOne(run, entries);
        }
        const entry = entries[0]!;
        const compensation = await this.prepare.compensate(run, entry);
        if (compensation === 'abandoned') return compensation;
        if (!(await run.deadLetter(entry.d, reasonOf(err), (err as Error).message, compensation))) return 'abandoned';
        return nothingApplied();
      }
    }
  }

  /** One transaction per message, in order; timed from the first one's BEGIN to the last one's COMMIT. */
  private async oneByOne(run: BatchRun, entries: Entry[]): Promise<'abandoned' | Applied> {
    const all: Applied = { ...nothingApplied(), began: Infinity };
    for (const e of entries) {
      const r = await this.run(run, [e], false);
      if (r === 'abandoned') return r;
      r.fresh.forEach((id) => all.fresh.add(id));
      r.reused.forEach((item) => all.reused.add(item));
      all.afterCommit.push(...r.afterCommit);
      all.began = Math.min(all.began, r.began);
      all.committed = r.committed;
    }
    return all;
  }
}

function nothingApplied(): Applied {
  return { fresh: new Set(), reused: new Set(), afterCommit: [], began: performance.now(), committed: performance.now() };
}
