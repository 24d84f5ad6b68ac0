import type { ConsumptionPause } from '../db/consumption-pause';
import { pausedPartitions } from '../db/consumption-pause';
import type { Logger } from '../logger';

/** How soon every instance follows a pause or resume: one cheap read per instance per poll. */
export const PAUSE_POLL_MS = 1_000;
/**
 * No consumer on a paused queue proves the pause only this long after it was recorded: every
 * instance has read it by then, with time to spare. Before, a queue can be between two consumers
 * (a handover, a renewed channel) and get one again from an instance that has not read it yet.
 */
export const PAUSE_SEEN_MS = PAUSE_POLL_MS + 1_000;
/**
 * How long the batch in hand of a partition being paused may take to finish. A batch commits in
 * milliseconds unless it is retrying a dependency that is down (a payment provider: minutes of
 * attempts); an operator who pauses wants the partition let go now, so past this its retries are
 * cut short and its deliveries go back to the queue, as after a crash.
 */
export const PAUSED_BATCH_GRACE_MS = 5_000;

export interface PauseWatcherOptions {
  partitions: number;
  read: () => Promise<ConsumptionPause[]>;
  /** Called with the new paused set whenever it changes (never for the first read); not
   *  awaited by the polls; a rejection is retried on the next poll. */
  onChange: (paused: ReadonlySet<number>) => Promise<void>;
  log: Logger;
  pollMs?: number;
}

const key = (s: ReadonlySet<number>) => [...s].sort((a, b) => a - b).join(',');

/**
 * Follows the operator's pauses (db/consumption-pause.ts) for one worker instance. The first
 * read happens before any consumer starts, so an instance started during a pause never takes a
 * message from a paused partition; it fails the start when Postgres cannot answer (a worker
 * without Postgres cannot do anything anyway). A failed later read keeps the last known set: a
 * Postgres blink must neither resume nor pause everything.
 */
export class PauseWatcher {
  private current: ReadonlySet<number> = new Set();
  private pauses: ConsumptionPause[] = [];
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  /** The last change was not applied (onChange rejected): apply it again on the next poll. */
  private unapplied = false;
  private polling: Promise<void> = Promise.resolve();

  constructor(private readonly opts: PauseWatcherOptions) {}

  get paused(): ReadonlySet<number> {
    return this.current;
  }

  /** The rows behind `paused` (reason, who, since), as last read. */
  get records(): readonly ConsumptionPause[] {
    return this.pauses;
  }

  async start(): Promise<void> {
    this.pauses = await this.opts.read();
    this.current = pausedPartitions(this.pauses, this.opts.partitions);
    if (this.current.size > 0) this.opts.log.warn({ paused: [...this.current], pauses: this.pauses }, 'consumption paused by an operator: these partitions are not consumed until resumed');
    let busy = false;
    this.timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.polling = this.poll().finally(() => (busy = false));
    }, this.opts.pollMs ?? PAUSE_POLL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
  }

  private async poll(): Promise<void> {
    let pauses: ConsumptionPause[];
    try {
      pauses = await this.opts.read();
    } catch (err) {
      if (!this.failing) this.opts.log.warn({ err: (err as Error).message }, 'reading consumption pauses failed: keeping the current ones');
      this.failing = true;
      return;
    }
    this.failing = false;
    this.pauses = pauses;
    const next = pausedPartitions(pauses, this.opts.partitions);
    if (key(next) !== key(this.current)) {
      const paused = [...next].filter((p) => !this.current.has(p));
      const resumed = [...this.current].filter((p) => !next.has(p));
      this.current = next;
      this.opts.log.info({ paused, resumed, pauses }, 'consumption pauses changed');
    } else if (!this.unapplied) return;
    // Not awaited: applying waits for drains (a batch in hand commits first), and the polls must
    // go on meanwhile, so the apply that comes next takes the latest pauses.
    this.unapplied = false;
    this.opts.onChange(next).catch((err: unknown) => {
      this.unapplied = true;
      this.opts.log.warn({ err: (err as Error).message }, 'applying consumption pauses failed: trying again on the next poll');
    });
  }
}
