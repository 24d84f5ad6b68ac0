import { Client } from 'pg';
import type { Teardown } from '../support/teardown';
import type { BenchEnv } from './bench-env';
import { OutcomeTap, runLoad, type Command } from './e2e';
import type { CpuByGroup } from './process-cpu';
import { rng, WAREHOUSES, type Scenario } from './scenarios';
import { round } from './stats';
import { meanBatchBetween, readMetrics, startFloor } from './workers';

/** The scenarios limit (c) can run: stock receipts only (fresh, duplicated, on one key). */
export const FLOOR_SCENARIOS = ['uniform', 'hot-key', 'duplicates-50', 'duplicates-only'];

/** Limit (c) on one scenario, measured as stockflow's rows are (JSON `floor`). */
export interface FloorRow {
  name: string;
  msgs_per_s: number;
  worker_cpu_us_per_msg: number;
  host_cpu_us_per_msg: number;
  host_cpu_split_us_per_msg: CpuByGroup;
  mean_batch: number;
  rss_mb: number;
  /** Paced at half its own full rate: the latency this host allows a receipt. */
  half_load: { msgs_per_s: number; p50_ms: number; p99_ms: number };
}

export interface FloorRun {
  env: BenchEnv;
  partitions: number;
  messages: number;
  scenarios: Scenario[];
  teardown: Teardown;
  walFlushes: () => Promise<number>;
  /** Called before and after each measured run, for the progress bar and the log. */
  step(what: string): void;
  done(): void;
  say(line: string): void;
}

/**
 * Runs limit (c), the floor process, on each of `scenarios` it can run: the same commands as
 * stockflow's run of that scenario (other ids), full rate and then paced at half that.
 */
export async function measureFloor(run: FloorRun): Promise<FloorRow[]> {
  const { env, messages } = run;
  const selected = run.scenarios.filter((s) => FLOOR_SCENARIOS.includes(s.name));
  if (selected.length === 0) return [];
  // ReceiveStock needs its warehouse; the workers register theirs again later, which they answer alike.
  const db = new Client({ connectionString: env.databaseUrl });
  await db.connect();
  await db.query(`INSERT INTO inventory.warehouse (id, name) SELECT 'wh-' || g, 'Warehouse ' || g FROM generate_series(0, $1 - 1) g ON CONFLICT DO NOTHING`, [WAREHOUSES]);
  await db.end();
  const floor = await startFloor({ DATABASE_URL: env.databaseUrl, AMQP_URL: env.amqpUrl, STOCKFLOW_NAMESPACE: env.namespace, PARTITIONS: String(run.partitions) }, run.teardown);
  const rows: FloorRow[] = [];
  try {
    const tap = await OutcomeTap.open(env, ['StockReceived']);
    try {
      const history: Command[] = [];
      for (const s of selected) {
        const rand = rng(42);
        const full = s.build(`floor-${s.name}-full`, messages, rand, history);
        floor.maxRssMb = 0;
        run.step(`limit (c): ${s.name}, full rate`);
        const m0 = await readMetrics([floor]);
        const f = await runLoad(env.publisher, tap, [floor], full, { walFlushes: run.walFlushes });
        const m1 = await readMetrics([floor]);
        run.done();
        const batch = meanBatchBetween(m0, m1);
        run.say(`  limit (c) ${s.name}: ${f.msgsPerS}/s, ${batch} messages per statement, CPU per message ${f.workerCpuUs} µs floor / ${f.hostCpuUs} µs host`);
        const rate = f.msgsPerS / 2;
        const half = s.build(`floor-${s.name}-half`, Math.max(1000, Math.min(Math.floor(messages / 2), Math.floor(rate * 8))), rand, history);
        run.step(`limit (c): ${s.name}, half rate`);
        const h = await runLoad(env.publisher, tap, [floor], half, { rate });
        run.done();
        run.say(`    at half that rate: p50 ${h.p50} ms, p99 ${h.p99} ms`);
        if (s.name === 'uniform') history.push(...full);
        rows.push({
          name: s.name,
          msgs_per_s: f.msgsPerS,
          worker_cpu_us_per_msg: f.workerCpuUs,
          host_cpu_us_per_msg: f.hostCpuUs,
          host_cpu_split_us_per_msg: f.hostSplitUs,
          mean_batch: batch,
          rss_mb: round(floor.maxRssMb, 0),
          half_load: { msgs_per_s: h.msgsPerS, p50_ms: h.p50, p99_ms: h.p99 },
        });
      }
    } finally {
      await tap.close();
    }
  } finally {
    await floor.stop();
  }
  return rows;
}

/**
 * Whether a scenario ran at least `share` of the floor's throughput on `scenario`, on the
 * unrounded ratio: `ratio_vs_floor` is rounded to two places, and 0.745 must not count as 0.75.
 * Null when the run has no such row or floor.
 */
export function meetsFloorShare(row: { msgs_per_s: number; floor_scenario?: string | null } | undefined, scenario: string, floor: FloorRow[], share: number): boolean | null {
  const basis = floor.find((f) => f.name === scenario);
  if (!row || !basis || row.floor_scenario !== scenario) return null;
  return row.msgs_per_s / basis.msgs_per_s >= share;
}

/**
 * A stockflow scenario's throughput against the floor's: the floor's run of the same scenario,
 * or its `uniform` run for a scenario it cannot run (reservations), as `floor_scenario` says.
 */
export function ratioVsFloor(name: string, msgsPerS: number, floor: FloorRow[]): { ratio_vs_floor: number | null; floor_scenario: string | null } {
  const basis = floor.find((f) => f.name === name) ?? floor.find((f) => f.name === 'uniform');
  return basis ? { ratio_vs_floor: round(msgsPerS / basis.msgs_per_s, 2), floor_scenario: basis.name } : { ratio_vs_floor: null, floor_scenario: null };
}
