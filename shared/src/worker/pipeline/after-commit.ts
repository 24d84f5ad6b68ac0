import { settledWithin } from '@stockflow/client/internal';
import type { Logger } from '../../logger';
import type { AfterCommit } from './handler-context';

/** Batches whose after-commit steps may run at once before a partition waits for its own. */
const MAX_AFTER_COMMIT_IN_FLIGHT = 256;

/**
 * The steps handlers asked to run once their transaction committed (the expiry schedule in
 * Redis). Not awaited by the batch: a reservation partition's next batch would wait a Redis
 * round trip and miss the next transaction. Started in commit order, and each step sends its
 * command before it awaits anything, so one Redis connection keeps their order (a hold's entry
 * is added before a later release removes it). Not chained one after another either: one round
 * trip at a time cannot keep up with a busy worker. Past MAX_AFTER_COMMIT_IN_FLIGHT batches
 * the partition waits after all, so a stalled Redis cannot pile them up. A step that fails is
 * logged: each one has a safety net (the expiry sweep).
 */
export class AfterCommitSteps {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly log: Logger) {}

  /** Starts a committed batch's steps; resolves at once unless too many are running. */
  async start(steps: AfterCommit[]): Promise<void> {
    if (steps.length === 0) return;
    const running = Promise.allSettled(steps.map((fn) => Promise.resolve().then(fn))).then((results) => {
      for (const r of results) if (r.status === 'rejected') this.log.warn({ err: (r.reason as Error).message }, 'after-commit step failed (a safety net covers it)');
    });
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running));
    if (this.inFlight.size > MAX_AFTER_COMMIT_IN_FLIGHT) await running;
  }

  /** Waits for the steps started so far (stop: before Redis closes), at most `timeoutMs`. */
  done(timeoutMs: number): Promise<boolean> {
    return settledWithin(Promise.all(this.inFlight), timeoutMs);
  }
}
