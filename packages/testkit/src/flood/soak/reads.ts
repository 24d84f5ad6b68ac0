import { InventoryReadModel } from '@stockflow/inventory-worker';
import { percentile } from '../report/stats';
import { Rng } from '../rng';
import type { Probe } from '../sampling/sampler';
import type { Catalogue } from '../workload/catalogue';

export interface ReadFigures {
  /** Queries answered (a failed query counts in errors only). */
  count: number;
  errors: number;
  perSec: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/**
 * The read side of the read-heavy profile: stock queries through the inventory read model
 * (the `npm run stock` code path, TypeORM on its own pool) while the workers write the same
 * rows. It shows what readers cost the writers (lock waits, latency) and what they see under
 * load. Paced at `perSec` by the clock, at most `concurrency` in flight: a slow database lowers
 * the achieved rate rather than piling up queries.
 */
export class ReadLoad {
  private readonly latencies: number[] = [];
  private errors = 0;
  private stopped = false;
  private running: Promise<void>[] = [];
  private startedAt = 0;
  private stoppedAt = 0;

  private constructor(
    private readonly model: InventoryReadModel,
    private readonly catalogue: Catalogue,
    private readonly perSec: number,
    private readonly rng: Rng,
  ) {}

  /** The application name starts with stockflow-flood, so pg faults (which hit stockflow:%) spare it. */
  static async start(opts: { databaseUrl: string; tag: string; catalogue: Catalogue; perSec: number; seed: string; concurrency: number }): Promise<ReadLoad> {
    const model = await InventoryReadModel.connect(opts.databaseUrl, `stockflow-flood:${opts.tag}:reads`);
    const load = new ReadLoad(model, opts.catalogue, opts.perSec, Rng.derive(opts.seed, 'reads'));
    load.startedAt = Date.now();
    load.running = Array.from({ length: opts.concurrency }, (_, i) => load.loop(i, opts.concurrency));
    return load;
  }

  /** Each loop owns every concurrency-th slot of the schedule, so together they keep the rate. */
  private async loop(slot: number, concurrency: number): Promise<void> {
    const interval = 1000 / this.perSec;
    for (let k = slot; !this.stopped; k += concurrency) {
      const due = this.startedAt + k * interval;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.stopped) return;
      // Mostly one row (the hot keys as often as the writes hit them), sometimes a whole product.
      const l = this.catalogue.location(this.rng);
      const t = performance.now();
      try {
        if (this.rng.chance(0.2)) await this.model.productStock(l.productId);
        else await this.model.stock(l.productId, l.warehouseId);
        this.latencies.push(performance.now() - t);
      } catch {
        this.errors++;
      }
    }
  }

  get count(): number {
    return this.latencies.length;
  }

  probe(): Probe {
    return { name: 'reads', read: async () => ({ reads: this.latencies.length, readErrors: this.errors }) };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stoppedAt = Date.now();
    await Promise.all(this.running);
    await this.model.close();
  }

  figures(): ReadFigures {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const secs = Math.max(0.001, ((this.stoppedAt || Date.now()) - this.startedAt) / 1000);
    const r = (n: number) => Math.round(n * 10) / 10;
    return { count: sorted.length, errors: this.errors, perSec: r(sorted.length / secs), p50_ms: r(percentile(sorted, 50)), p99_ms: r(percentile(sorted, 99)), max_ms: r(sorted[sorted.length - 1] ?? NaN) };
  }
}
