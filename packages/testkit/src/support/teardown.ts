/** How a teardown runs: `hurry` when the run was abandoned and nobody waits for a gentle stop. */
export interface TeardownOptions {
  hurry: boolean;
}

export type Undo = (opts: TeardownOptions) => Promise<unknown>;

/** Thrown by `create` and `defer` once the teardown has begun: the run must not create anything more. */
export class TeardownStarted extends Error {
  constructor(what: string) {
    super(`not creating ${what}: the run is being torn down`);
  }
}

/**
 * What one run (a flood, a bench) created, undone in reverse order, exactly once, however the
 * run ends: it returns, it throws anywhere (also halfway through creating things), a signal
 * stops it, or a test that timed out abandons it while it still runs. Each resource registers
 * its undo right where it is created, so the cleanup cannot miss one that a later step did not
 * get to. Once `close` has begun, nothing new can be registered: an abandoned run that goes on
 * in the background fails at its next step instead of starting processes nobody will stop.
 */
export class Teardown {
  private readonly steps: { what: string; undo: Undo }[] = [];
  private readonly creating = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;
  private drained = false;
  /** Undo steps that failed or timed out (the others still ran). */
  readonly failures: { what: string; error: string }[] = [];

  /** No undo step may hold up the ones after it (dropping the database comes last) for longer. */
  constructor(private readonly stepTimeoutMs = 60_000) {}

  get started(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Registers the undo of something that exists or is about to (register first, then start a
   * process or a connection: the undo must cope with one that never got going).
   */
  defer(what: string, undo: Undo): void {
    if (this.closing) throw new TeardownStarted(what);
    this.steps.push({ what, undo });
  }

  /**
   * Creates something and registers its undo in one step. `close` waits for creations under way
   * (at most the step timeout), so what one of them creates is undone as well.
   */
  async create<T>(what: string, make: () => Promise<T>, undo: (made: T, opts: TeardownOptions) => Promise<unknown>): Promise<T> {
    if (this.closing) throw new TeardownStarted(what);
    const made = make().then((value) => {
      if (this.drained) {
        // It took longer than close() waited for it: undo it now, and stop the run here.
        void undo(value, { hurry: true }).catch((err: unknown) => this.failures.push({ what, error: String(err) }));
        throw new TeardownStarted(what);
      }
      this.steps.push({ what, undo: (opts) => undo(value, opts) });
      return value;
    });
    this.creating.add(made);
    try {
      return await made;
    } finally {
      this.creating.delete(made);
    }
  }

  /** Runs every undo step, the last registered first; later calls return the same promise. */
  close(opts: TeardownOptions = { hurry: false }): Promise<void> {
    this.closing ??= this.run(opts);
    return this.closing;
  }

  private async run(opts: TeardownOptions): Promise<void> {
    if (this.creating.size > 0) await this.within('creations under way', Promise.allSettled([...this.creating]));
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      const s = step;
      await this.within(s.what, Promise.resolve().then(() => s.undo(opts)));
    }
    this.drained = true;
  }

  private async within(what: string, work: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no result after ${this.stepTimeoutMs} ms`)), this.stepTimeoutMs);
    });
    try {
      await Promise.race([work, timeout]);
    } catch (err) {
      this.failures.push({ what, error: err instanceof Error ? err.message : String(err) });
    } finally {
      clearTimeout(timer);
    }
  }
}
