/** One reading of every probe. */
export interface Sample {
  /** ms since the epoch */
  t: number;
  values: Record<string, number>;
}

/**
 * Something worth watching over time. A probe returns named numbers; a failing probe is
 * left out of that sample (the chart shows a gap), it never stops the flood.
 */
export interface Probe {
  name: string;
  read(): Promise<Record<string, number>>;
}

/**
 * Reads every probe each `intervalMs` (never two rounds at once) and keeps the series for the
 * progress line and the report's charts. The soak adds probes (RSS, Postgres
 * connections, lock waits, table sizes) and a trend check over the same series.
 */
export class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly probes: Probe[],
    private readonly intervalMs: number,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    void this.tick();
  }

  async tick(): Promise<Sample | undefined> {
    if (this.busy) return undefined;
    this.busy = true;
    try {
      const t = Date.now();
      const parts = await Promise.all(this.probes.map((p) => p.read().catch(() => ({}))));
      const sample: Sample = { t, values: Object.assign({}, ...parts) as Record<string, number> };
      this.samples.push(sample);
      return sample;
    } finally {
      this.busy = false;
    }
  }

  latest(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
  }
}
