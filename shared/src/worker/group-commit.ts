import { StockflowError } from '../errors';

/**
 * A merged transaction failed. Every batch in it is retried on its own at once, so a poison
 * message or a lock conflict in one partition's batch is never charged to another's.
 */
export class MergedTransactionFailed extends StockflowError {
  constructor(cause: unknown, readonly batches: number) {
    super(`a transaction merging ${batches} batches failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

interface Waiting<P, R> {
  part: P;
  size: number;
  resolve(r: R): void;
  reject(err: unknown): void;
}

/**
 * Group commit across partitions. Below full load each partition's batch is small, so the fixed
 * cost of a transaction (round trips, planning, COMMIT's WAL flush, the relay's publish and
 * delete) would dominate: a half-busy worker would spend more CPU per message than a full one,
 * and its latency would be queueing. Here at most `concurrency` transactions run at once; batches that
 * arrive meanwhile wait and then go together in one transaction, up to `maxMessages`. An idle
 * worker starts a batch's transaction at once: merging costs no waiting, it only replaces
 * queueing for the database with sharing a transaction. The one exception is the turn of the
 * event loop right after a commit (see start()), which lets the committed partitions' next
 * batches catch the next transaction.
 *
 * A further transaction starts beside running ones only once the youngest of them has run
 * `overlapAfterMs`. Two transactions of one process at once share its event loop and the
 * host's cores, so on a busy host each takes longer and merges less than one at a time would;
 * the extra slots are for a transaction that is slow
 * (waiting on another worker's row locks, a slow commit), which must not stop every other
 * partition of the worker.
 *
 * Each batch still commits before its partition's next one starts (the caller awaits), so
 * per-partition order is untouched; rows of all merged batches are locked in one sorted pass.
 */
/** Most messages one merged transaction carries (a single batch of up to BATCH_SIZE always goes). */
export const TX_MAX_MESSAGES = 200;
/**
 * How long a running transaction must have taken before another starts beside it: under it,
 * new batches merge into the next transaction (the measured trade is in the comment above).
 */
export const TX_OVERLAP_MS = 25;

export class GroupCommit<P, R> {
  private readonly waiting: Waiting<P, R>[] = [];
  /** The running transactions, by start time. */
  private readonly running = new Set<{ at: number }>();
  private timer: NodeJS.Timeout | undefined;
  /** Between a commit and the next turn of the event loop (see start()). */
  private holding = false;

  constructor(
    private readonly run: (parts: P[]) => Promise<R>,
    private readonly opts: { concurrency: number; maxMessages: number; overlapAfterMs?: number },
  ) {}

  /** Resolves with the result of the transaction the part went in. */
  submit(part: P, size: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ part, size, resolve, reject });
      this.pump();
    });
  }

  get queued(): number {
    return this.waiting.length;
  }

  private pump(): void {
    if (this.holding) return;
    while (this.waiting.length > 0 && this.running.size < this.opts.concurrency) {
      const wait = this.overlapWait();
      if (wait > 0) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait).unref();
        return;
      }
      this.start();
    }
  }

  /** Milliseconds until another transaction may start beside the running ones. */
  private overlapWait(): number {
    const after = this.opts.overlapAfterMs ?? 0;
    if (after === 0 || this.running.size === 0) return 0;
    let youngest = 0;
    for (const r of this.running) youngest = Math.max(youngest, r.at);
    return youngest + after - performance.now();
  }

  private start(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const group = [this.waiting.shift()!];
    let size = group[0]!.size;
    while (this.waiting.length > 0 && size + this.waiting[0]!.size <= this.opts.maxMessages) {
      const next = this.waiting.shift()!;
      size += next.size;
      group.push(next);
    }
    const tx = { at: performance.now() };
    this.running.add(tx);
    void this.run(group.map((g) => g.part))
      .then(
        (r) => group.forEach((g) => g.resolve(r)),
        (err: unknown) => group.forEach((g) => g.reject(group.length > 1 ? new MergedTransactionFailed(err, group.length) : err)),
      )
      .finally(() => {
        this.running.delete(tx);
        // The batches this one carried are acked in this turn of the event loop, and their
        // partitions' next batches (looked up in Redis as they arrived) are submitted in it too,
        // unless they need I/O first (a prepare(), a sequence lookup):
        // the next transaction waits for them instead of leaving without them, which would cost
        // each a whole transaction more in the queue.
        this.holding = true;
        setImmediate(() => {
          this.holding = false;
          this.pump();
        });
      });
  }
}
