/**
 * At most `size` holders at once; waiters are served first come, first served, so no partition
 * starves. size 0 means no limit.
 */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** Resolves with the release function once a slot is free. */
  async acquire(): Promise<() => void> {
    if (this.size > 0 && this.active >= this.size) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter: `active` stays as it is.
      if (next) next();
      else this.active--;
    };
  }

  get waiting(): number {
    return this.waiters.length;
  }
}
