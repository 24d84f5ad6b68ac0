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
 * Group commit across partitions. Below full load each partition's batch is small (at half
 * load 16 partitions shared ~9 messages per transaction) and the fixed cost of a transaction
 * (round trips, planning, COMMIT's WAL flush, the relay's publish and delete) dominated: the
 * host spent twice as much CPU per message at half load as at full load, stayed near its limit,
 * and latency was queueing. Here at most `concurrency` transactions run at once; batches that
 * arrive meanwhile wait and then go together in one transaction, up to `maxMessages`. An idle
 * worker starts a batch's transaction at once: merging costs no waiting, it only replaces
 * queueing for the database with sharing a transaction.
 *
 * Each batch still commits before its partition's next one starts (the caller awaits), so
 * per-partition order is untouched; rows of all merged batches are locked in one sorted pass.
 */
export class GroupCommit<P, R> {
  private readonly waiting: Waiting<P, R>[] = [];
  private running = 0;

  constructor(
    private readonly run: (parts: P[]) => Promise<R>,
    private readonly opts: { concurrency: number; maxMessages: number },
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
    while (this.running < this.opts.concurrency && this.waiting.length > 0) {
      const group = [this.waiting.shift()!];
      let size = group[0]!.size;
      while (this.waiting.length > 0 && size + this.waiting[0]!.size <= this.opts.maxMessages) {
        const next = this.waiting.shift()!;
        size += next.size;
        group.push(next);
      }
      this.running++;
      void this.run(group.map((g) => g.part)).then(
        (r) => group.forEach((g) => g.resolve(r)),
        (err: unknown) => group.forEach((g) => g.reject(group.length > 1 ? new MergedTransactionFailed(err, group.length) : err)),
      ).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }
}
