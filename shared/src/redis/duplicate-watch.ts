/**
 * How long after the last duplicate every arriving message is looked up in Redis. Duplicates
 * come in runs (a publisher's retries, a redelivered prefetch after a restart, a replay), so one
 * seen says more are likely for a while.
 */
export const DUPLICATES_RECENT_MS = 60_000;

/**
 * Whether the duplicate pre-filter is worth a Redis round trip for an arriving message. While
 * duplicates arrive (one was caught, by Redis or by the inbox, within the last window) every
 * message is asked about; otherwise only deliveries the broker marks redelivered, which is what
 * a crashed or stopped consumer's unacked messages are. Fresh traffic then costs no lookups.
 * A copy that arrives unannounced (a publisher's retry, a replay) is absorbed by the inbox claim
 * as always (the pre-filter only ever saves a transaction), and opens the window for the copies
 * that follow it.
 */
export class DuplicateWatch {
  /** Until when every message is asked about; closed until a duplicate is caught. */
  private until = 0;

  constructor(
    private readonly windowMs: number = DUPLICATES_RECENT_MS,
    // Monotonic: a wall clock stepped by NTP would stretch or cut the window.
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** `count` duplicates were just caught (0: none, nothing changes). */
  saw(count: number): void {
    if (count > 0) this.until = this.clock() + this.windowMs;
  }

  worthAsking(redelivered: boolean): boolean {
    return redelivered || this.clock() < this.until;
  }
}
