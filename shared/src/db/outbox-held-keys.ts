/** A row the broker refused, waiting for its retry. */
interface Refused {
  key: string;
  attempts: number;
  retryAt: number;
}

/**
 * The partition keys whose rows must not go out now, so that a key's events never overtake
 * each other:
 *   refused  a row of the key came back refused and waits for its retry (in memory: a new
 *            leader starts with none and simply tries the row again)
 *   parked   the key's head row is in outbox_parked past its budget (as of the last look at
 *            that table)
 */
export class HeldKeys {
  private readonly refused = new Map<string, Refused>();
  private parked = new Set<string>();

  /** Every held key. */
  all(): Set<string> {
    const held = new Set(this.parked);
    for (const r of this.refused.values()) held.add(r.key);
    return held;
  }

  /** Failed attempts so far of a row (0: never refused). */
  attemptsOf(id: string): number {
    return this.refused.get(id)?.attempts ?? 0;
  }

  refuse(id: string, key: string, attempts: number, retryInMs: number): void {
    this.refused.set(id, { key, attempts, retryAt: Date.now() + retryInMs });
  }

  /** The row went out or was parked; true when it had been refused (its key flows again). */
  release(id: string): boolean {
    return this.refused.delete(id);
  }

  /** Refused rows whose retry is due. */
  dueIds(now = Date.now()): string[] {
    return [...this.refused].filter(([, r]) => r.retryAt <= now).map(([id]) => id);
  }

  /** Milliseconds until the next refused row may be retried (Infinity: none waits). */
  retryDue(now = Date.now()): number {
    let due = Infinity;
    for (const r of this.refused.values()) due = Math.min(due, r.retryAt - now);
    return due;
  }

  get parkedKeys(): ReadonlySet<string> {
    return this.parked;
  }

  setParked(keys: Set<string>): void {
    this.parked = keys;
  }

  park(key: string): void {
    this.parked.add(key);
  }

  unpark(key: string): void {
    this.parked.delete(key);
  }

  /** A new leader: refusals were another term's. */
  forgetRefusals(): void {
    this.refused.clear();
  }
}
