/**
 * Requests waiting for their command's outcome. A waiter reads its row, and until the row is
 * settled sleeps until a notification about it or the next periodic re-read. It is registered
 * before each read, so a notification that arrives while the row is being read (the outcome
 * recorded just after the read saw the row unsettled) makes it read again at once instead of
 * sleeping through to the re-read.
 */
export class OutcomeWaiters<R> {
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly opts: {
      read: (id: string) => Promise<R | undefined>;
      settled: (row: R | undefined) => boolean;
      /** A waiter reads its row this often even without a notification (one lost on a reconnect). */
      recheckMs: number;
    },
  ) {}

  /** The row once it is settled, or as it is when `ms` ran out or `stopped()` says so. */
  async waitFor(id: string, ms: number, stopped: () => boolean): Promise<R | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      let woken = false;
      let wakeUp: (() => void) | undefined;
      const poke = () => {
        woken = true;
        wakeUp?.();
      };
      const set = this.waiters.get(id) ?? new Set();
      set.add(poke);
      this.waiters.set(id, set);
      try {
        const row = await this.opts.read(id);
        const left = deadline - Date.now();
        if (this.opts.settled(row) || left <= 0 || stopped()) return row;
        if (!woken) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.min(left, this.opts.recheckMs));
            wakeUp = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      } finally {
        set.delete(poke);
        if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
      }
    }
  }

  /** A notification about `id`: its waiters read their row again now. */
  wake(id: string): void {
    for (const poke of this.waiters.get(id) ?? []) poke();
  }

  /** Everyone reads once more (and, stopping, returns). */
  wakeAll(): void {
    for (const set of this.waiters.values()) for (const poke of set) poke();
  }

  get waiting(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }
}
