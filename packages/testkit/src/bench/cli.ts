import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { quorumArguments } from '@stockflow/shared';
import { barChart } from '../flood/report/svg';
import { ProgressBar } from '../flood/report/progress-bar';
import { startInProcessGateway } from '../support/in-process-gateway';
import { Teardown } from '../support/teardown';
import { createBenchEnv } from './bench-env';
import { OutcomeTap, runLoad, type Command } from './e2e';
import { HTTP_CONCURRENCY, runHttpLoad, type HttpLoad } from './http-load';
import { FLOOR_SCENARIOS, measureFloor, meetsFloorShare, ratioVsFloor, type FloorRow } from './floor-phase';
import { amqpLimits, amqpPacedCost, pgTxLimit } from './limits';
import { describeSplit, type CpuByGroup } from './process-cpu';
import { rng, scenarios, seedCommands, warehouseCommands } from './scenarios';
import { round } from './stats';
import { bucketPercentile, eventsPerSecBetween, meanBatchBetween, readMetrics, stageMeansBetween, startWorkers } from './workers';

const USAGE = 'Usage: npm run bench -- [--messages N] [--workers 1,2] [--only name,name] [--partitions N] [--paced N] [--loads 0.1,0.25] [--rates 1200] [--json FILE] [--svg FILE] [--from FILE]';
const text = { type: 'string' } as const;
const OPTIONS = { help: { type: 'boolean', short: 'h' }, messages: text, workers: text, only: text, partitions: text, paced: text, loads: text, rates: text, json: text, svg: text, from: text } as const;
type Flag = Exclude<keyof typeof OPTIONS, 'help'>;

/**
 * `npm run bench -- [options]` (USAGE): measures, in one run on this machine, the raw limits of
 * RabbitMQ and of the per-message Postgres transaction, then stockflow end to end per scenario
 * at full and at half load. SIGINT or SIGTERM stops the workers, removes the database, queues
 * and Redis keys and exits 128 + the signal's number; a second signal exits at once.
 */
interface Row {
  name: string;
  workers: number;
  msgs_per_s: number;
  p50_ms: number;
  p99_ms: number;
  half_load: LoadPoint;
  /** `--loads` and `--rates`: the same paced run at other fractions of the full rate, or at fixed rates. */
  load_curve?: (LoadPoint & ({ fraction: number } | { rate: number }))[];
  rss_mb: number;
  mean_batch: number;
  /** Events each worker's outbox relay published per second at full rate (its shards' share). */
  events_per_s_by_worker?: number[];
  /** CPU µs per message at full load: the worker processes', and the whole host's. */
  worker_cpu_us_per_msg?: number;
  host_cpu_us_per_msg?: number;
  /** The host's CPU per message at full load by process (worker, broker, postgres, redis, bench, other). */
  host_cpu_split_us_per_msg?: CpuByGroup;
  /** WAL flushes per message at full load (Postgres's fsyncs: commits, the relay's deletes, the WAL writer). */
  wal_flushes_per_msg?: number;
  /** Write system calls of the worker processes per message at full load (socket sends, mostly). */
  worker_writes_per_msg?: number;
  ratio_vs_pg_tx: number;
  ratio_vs_amqp_publish: number;
  /** Throughput ÷ limit (c)'s on `floor_scenario` (the same scenario, or uniform when the floor cannot run it); older reports lack it. */
  ratio_vs_floor?: number | null;
  floor_scenario?: string | null;
}

interface BrokerCpu {
  burst_host_cpu_us_per_msg: number;
  paced_rate: number;
  paced_host_cpu_us_per_msg: number;
  /** The same burst by process (older reports lack it). */
  burst_host_cpu_split_us_per_msg?: CpuByGroup;
  /** The broker alone, paced: publish → delivery (older reports lack it). */
  paced_delivery_p50_ms?: number;
  paced_delivery_p99_ms?: number;
}

interface LoadPoint {
  msgs_per_s: number;
  p50_ms: number;
  p99_ms: number;
  mean_batch?: number;
  host_cpu_us_per_msg?: number;
  host_cpu_split_us_per_msg?: CpuByGroup;
  wal_flushes_per_msg?: number;
  worker_writes_per_msg?: number;
  /** Latency cut where the outcome event was built: publish → handler, handler → event seen (ms). */
  to_handler_p50_ms?: number;
  to_handler_p99_ms?: number;
  /** Mean ms per applied message of each stage of delivery → commit (stockflow_stage_seconds). */
  stage_mean_ms?: Record<string, number>;
  to_event_p50_ms?: number;
  to_event_p99_ms?: number;
}

/** The options, strictly: --help, or an error naming an unknown flag, a missing value or a stray argument. */
function checkArgs(argv: string[]): { help: true } | { error: string } | { values: Partial<Record<Flag, string>> } {
  try {
    const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
    if (values.help) return { help: true };
    return { values };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Counts per transaction of the run, e.g. "2.1 WAL flushes and 6.3 worker write calls per transaction". */
function countsPerTx(r: { walFlushesPerMsg?: number; workerWritesPerMsg: number }, meanBatch: number): string {
  // Only duplicates (no transaction): what each one costs in sends.
  if (meanBatch === 0) return `${round(r.workerWritesPerMsg, 2)} worker write calls per message`;
  const writes = `${round(r.workerWritesPerMsg * meanBatch, 2)} worker write calls per transaction`;
  return r.walFlushesPerMsg === undefined ? `WAL flushes not counted, ${writes}` : `${round(r.walFlushesPerMsg * meanBatch, 2)} WAL flushes and ${writes}`;
}

/** On a terminal: a bar with the share of the bench's steps done and an ETA; else plain lines. */
const bar = new ProgressBar(process.stderr);

function say(msg: string): void {
  bar.line(`[bench] ${msg}`);
}

/**
 * The bench's steps (each limit, each full-rate and paced run) as the bar counts them; the
 * steps differ in length, so the ETA is a rough one.
 */
class Steps {
  private done = 0;
  private current = '';
  private readonly timer = setInterval(() => this.draw(), 1000);

  constructor(private readonly total: number) {
    this.timer.unref();
  }

  start(what: string): void {
    this.current = what;
    this.draw();
  }

  end(): void {
    this.done++;
    this.draw();
  }

  stop(): void {
    clearInterval(this.timer);
    bar.stop();
  }

  private draw(): void {
    bar.update(this.done / this.total, `step ${Math.min(this.done + 1, this.total)}/${this.total}: ${this.current}`);
  }
}

const teardown = new Teardown();
const SIGNAL_NUMBER: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };
let interrupted = false;

/** What the bench created goes (workers, database, queues, Redis keys), then the process. */
function interrupt(signal: NodeJS.Signals): void {
  const code = 128 + (SIGNAL_NUMBER[signal] ?? 0);
  if (interrupted) {
    say(`${signal} again: exiting without waiting for the cleanup`);
    process.exit(code);
  }
  interrupted = true;
  say(`${signal}: stopping the workers, removing the database, queues and Redis keys (again to quit now)`);
  // The run goes on meanwhile until it trips over what is removed; the teardown refuses to
  // let it start anything new, and waits for what it is creating right now.
  void teardown.close({ hurry: true }).finally(() => {
    reportCleanupFailures();
    process.exit(code);
  });
}

function reportCleanupFailures(): void {
  for (const f of teardown.failures) say(`cleanup: ${f.what} failed: ${f.error}`);
}

async function main(): Promise<number> {
  const args = checkArgs(process.argv.slice(2));
  if ('help' in args) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if ('error' in args) {
    process.stderr.write(`${args.error}\n${USAGE}\n`);
    return 2;
  }
  const arg = (name: Flag, fallback: string): string => args.values[name] || fallback;
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  const messages = Number(arg('messages', '20000'));
  const workerCounts = arg('workers', '1,2').split(',').map(Number);
  const only = arg('only', '').split(',').filter(Boolean);
  const jsonFile = arg('json', '');
  const svgFile = arg('svg', '');
  const partitions = Number(arg('partitions', '16'));
  // About the uniform half-load rate on this 2-core machine, so the two compare.
  const pacedRate = Number(arg('paced', '1500'));
  // Extra paced runs (fractions of the full rate) for a latency-vs-load curve; a quarter by
  // default, where the p99 target is set.
  const loads = arg('loads', '0.25').split(',').filter(Boolean).map(Number);
  if (loads.some((l) => !(l > 0 && l <= 1))) throw new Error(`--loads takes fractions of the full rate in (0, 1], got ${arg('loads', '')}`);
  // Paced runs at fixed rates (msgs/s): the same offered load whatever this hour's machine
  // speed makes the full rate, for comparing two builds run after one another; none by default.
  const rates = arg('rates', '').split(',').filter(Boolean).map(Number);
  if (rates.some((r) => !(r > 0))) throw new Error(`--rates takes messages per second, got ${arg('rates', '')}`);

  const from = arg('from', '');
  if (from) {
    // Re-render the table and chart of an earlier run (e.g. for docs/performance.md).
    const earlier = JSON.parse(readFileSync(from, 'utf8')) as { limits: Limits; broker_cpu?: BrokerCpu; floor?: FloorRow[]; scenarios: Row[]; duplicate_cost_vs_fresh: number | null };
    printTable(earlier.limits, earlier.scenarios, earlier.duplicate_cost_vs_fresh, earlier.floor ?? [], earlier.broker_cpu);
    if (svgFile) writeFileSync(svgFile, throughputSvg(earlier.limits, earlier.floor ?? [], earlier.scenarios));
    return 0;
  }
  const selected = scenarios.filter((s) => only.length === 0 || only.includes(s.name));
  // The HTTP door: with one worker, after its scenarios, against the AMQP path's uniform rate.
  const http = workerCounts.includes(1) && (only.length === 0 || only.includes('http'));
  const floorSteps = 2 * selected.filter((s) => FLOOR_SCENARIOS.includes(s.name)).length;
  const steps = new Steps(3 + floorSteps + workerCounts.length * selected.length * (2 + loads.length + rates.length) + (http ? 2 : 0));
  teardown.defer('progress bar', async () => steps.stop());
  const env = await createBenchEnv(partitions, teardown);
  say(`namespace ${env.namespace}, database ${env.database}`);
  const rows: Row[] = [];
  const httpRows: (HttpLoad & { wait_s: number })[] = [];
  // The cluster's WAL flush count (pg_stat_wal.wal_sync, PostgreSQL 14–17): a count, so it
  // compares across runs where CPU time drifts with the machine. Approximate per run: a backend
  // that goes idle reports its last second of counts up to 10 s later (PGSTAT_IDLE_INTERVAL),
  // so some of a run's tail lands in the next run.
  const stats = new Client({ connectionString: env.serverUrl });
  stats.on('error', (err) => say(`WAL counter session lost: ${err.message}`));
  const walFlushes = () => stats.query<{ n: string }>('SELECT wal_sync AS n FROM pg_stat_wal').then((r) => Number(r.rows[0]?.n ?? 0), () => NaN);
  try {
    await stats.connect();
    say('limit (a): raw amqplib on a quorum queue');
    steps.start('limit (a): raw amqplib');
    const amqpLimit = await amqpLimits(env.amqpUrl, env.queues.limit, 50_000, quorumArguments(env.topology), teardown);
    steps.end();
    say(`  publish ${amqpLimit.publish}/s (confirmed), consume ${amqpLimit.consume}/s (acked); host CPU ${amqpLimit.hostCpuUs} µs per message (${describeSplit(amqpLimit.hostSplitUs)})`);
    steps.start('limit (a): paced');
    const paced = await amqpPacedCost(env.amqpUrl, env.queues.paced, pacedRate, 6, quorumArguments(env.topology), teardown);
    steps.end();
    say(`  paced at ${paced.rate}/s, one publish at a time: host CPU ${paced.hostCpuUs} µs per message, publish → delivery p50 ${paced.deliveryP50Ms} ms, p99 ${paced.deliveryP99Ms} ms`);
    say('limit (b): per-message transaction from Node (inbox, lock, update, ledger, outbox), pool of 8');
    steps.start('limit (b): transaction from Node');
    const pgTx = await pgTxLimit(env.databaseUrl, 8);
    steps.end();
    const pgLimit = pgTx.txPerS;
    say(`  ${pgLimit} tx/s; host CPU ${pgTx.hostCpuUs} µs per transaction, the cores ${Math.round(pgTx.hostBusy * 100)} % busy (${describeSplit(pgTx.hostSplitUs)})`);
    say('limit (c): the floor, one process, one statement per group of up to 200 receipts, acks after commit, one confirmed outcome event per receipt');
    const floor = await measureFloor({ env, partitions, messages, scenarios: selected, teardown, walFlushes, step: (what) => steps.start(what), done: () => steps.end(), say });

    for (const count of workerCounts) {
      const workers = await startWorkers(count, {
        DATABASE_URL: env.databaseUrl,
        AMQP_URL: env.amqpUrl,
        REDIS_URL: env.redisUrl,
        STOCKFLOW_NAMESPACE: env.namespace,
        PARTITIONS: String(partitions),
      }, teardown);
      try {
        const tap = await OutcomeTap.open(env, ['StockReceived', 'StockReserved', 'StockReservationRejected', 'WarehouseRegistered']);
        const prefix = `w${count}`;
        await runLoad(env.publisher, tap, workers, warehouseCommands(prefix));
        await runLoad(env.publisher, tap, workers, seedCommands(prefix));
        const history: Command[] = [];
        for (const s of selected) {
          const rand = rng(42);
          const full = s.build(`${prefix}-${s.name}-full`, messages, rand, history);
          for (const w of workers) w.maxRssMb = 0;
          say(`${s.name}, ${count} worker(s): ${messages} messages as fast as possible`);
          steps.start(`${s.name}, ${count} worker(s), full rate`);
          const b0 = await readMetrics(workers);
          const f = await runLoad(env.publisher, tap, workers, full, { walFlushes });
          const b1 = await readMetrics(workers);
          steps.end();
          const batch = meanBatchBetween(b0, b1);
          const events = eventsPerSecBetween(b0, b1, messages / f.msgsPerS);
          say(`  ${f.msgsPerS}/s, p50 ${f.p50} ms, p99 ${f.p99} ms, ${batch} messages per transaction, CPU per message ${f.workerCpuUs} µs worker / ${f.hostCpuUs} µs host, ${countsPerTx(f, batch)}`);
          say(`    events published ${events.reduce((a, b) => a + b, 0)}/s (per worker: ${events.join(', ')})`);
          say(`    host CPU per message by process: ${describeSplit(f.hostSplitUs)} µs`);
          // Paced, for about 8 s (at least 1000 messages).
          let pacedRuns = 0;
          const paced = async (rate: number, what: string): Promise<LoadPoint> => {
            const count = Math.max(1000, Math.min(Math.floor(messages / 2), Math.floor(rate * 8)));
            // Numbered: a rate given twice (or --loads 0.5 beside the half-load run) gets fresh ids.
            const load = s.build(`${prefix}-${s.name}-${++pacedRuns}`, count, rand, history);
            steps.start(`${s.name}, ${count} worker(s), ${count} at ${what}`);
            const m0 = await readMetrics(workers);
            const r = await runLoad(env.publisher, tap, workers, load, { rate, walFlushes });
            const m1 = await readMetrics(workers);
            steps.end();
            const meanBatch = meanBatchBetween(m0, m1);
            say(`  ${count} at ${what}: p50 ${r.p50} ms, p99 ${r.p99} ms, CPU per message ${r.workerCpuUs} µs worker / ${r.hostCpuUs} µs host`);
            say(`    host CPU per message by process: ${describeSplit(r.hostSplitUs)} µs`);
            say(`    ${meanBatch} messages per transaction, ${countsPerTx(r, meanBatch)}; in the worker (delivery → commit) p50 ≤ ${bucketPercentile(m0, m1, 50)} ms, p99 ≤ ${bucketPercentile(m0, m1, 99)} ms`);
            const { toHandler, toEvent } = r.split;
            say(`    publish → handler p50 ${toHandler.p50} ms, p99 ${toHandler.p99} ms; handler → event p50 ${toEvent.p50} ms, p99 ${toEvent.p99} ms`);
            const stages = stageMeansBetween(m0, m1);
            say(`    in the worker, mean ms per message: ${Object.entries(stages).map(([k, v]) => `${k} ${v}`).join(', ')}`);
            return {
              msgs_per_s: r.msgsPerS,
              p50_ms: r.p50,
              p99_ms: r.p99,
              mean_batch: meanBatch,
              host_cpu_us_per_msg: r.hostCpuUs,
              host_cpu_split_us_per_msg: r.hostSplitUs,
              wal_flushes_per_msg: r.walFlushesPerMsg,
              worker_writes_per_msg: r.workerWritesPerMsg,
              to_handler_p50_ms: toHandler.p50,
              to_handler_p99_ms: toHandler.p99,
              to_event_p50_ms: toEvent.p50,
              to_event_p99_ms: toEvent.p99,
              stage_mean_ms: stages,
            };
          };
          const atFraction = (fraction: number) => paced(f.msgsPerS * fraction, `${fraction} of that rate`);
          const half = await atFraction(0.5);
          const curve: NonNullable<Row['load_curve']> = [];
          for (const fraction of loads) curve.push({ fraction, ...(await atFraction(fraction)) });
          for (const rate of rates) curve.push({ rate, ...(await paced(rate, `${rate}/s`)) });
          if (s.name === 'uniform') history.push(...full);
          rows.push({
            name: s.name,
            workers: count,
            msgs_per_s: f.msgsPerS,
            p50_ms: f.p50,
            p99_ms: f.p99,
            half_load: half,
            ...(curve.length > 0 ? { load_curve: curve } : {}),
            rss_mb: round(Math.max(...workers.map((w) => w.maxRssMb)), 0),
            mean_batch: batch,
            events_per_s_by_worker: events,
            worker_cpu_us_per_msg: f.workerCpuUs,
            host_cpu_us_per_msg: f.hostCpuUs,
            host_cpu_split_us_per_msg: f.hostSplitUs,
            wal_flushes_per_msg: f.walFlushesPerMsg,
            worker_writes_per_msg: f.workerWritesPerMsg,
            ratio_vs_pg_tx: round(f.msgsPerS / pgLimit, 2),
            ratio_vs_amqp_publish: round(f.msgsPerS / amqpLimit.publish, 2),
            ...ratioVsFloor(s.name, f.msgsPerS, floor),
          });
        }
        if (http && count === 1) {
          const gateway = await startInProcessGateway({ ...env, partitions, quorumGroupSize: env.topology.quorumGroupSize }, teardown);
          const n = Math.max(1000, Math.floor(messages / 4));
          const rand = rng(7);
          const uniform = scenarios.find((x) => x.name === 'uniform')!;
          for (const waitS of [0, 5]) {
            const what = waitS > 0 ? `Prefer: wait=${waitS} (answered with the outcome)` : 'no wait (answered at the broker\'s confirm)';
            steps.start(`http, ${what}`);
            say(`http, 1 worker: ${n} ReceiveStock requests, ${HTTP_CONCURRENCY} at once, ${what}`);
            const r = await runHttpLoad(gateway, uniform.build(`${prefix}-http-${waitS}`, n, rand, []), waitS);
            steps.end();
            say(`  ${r.requests_per_s} requests/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms; answers ${Object.entries(r.statuses).map(([k, v]) => `${k} × ${v}`).join(', ')}`);
            httpRows.push({ wait_s: waitS, ...r });
          }
        }
        await tap.close();
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    }

    const get = (name: string, w = 1) => rows.find((r) => r.name === name && r.workers === w);
    const uniform = get('uniform');
    const hot = get('hot-key');
    const reservations = get('reservations-3-lines');
    const dupOnly = get('duplicates-only');
    const latencyRows = [uniform, hot].filter((r): r is Row => r !== undefined);
    const limits: Limits = { amqp_publish: amqpLimit.publish, amqp_consume: amqpLimit.consume, pg_tx_per_s: pgLimit };
    const report = {
      machine: { cpus: cpus().length, node: process.version, messages_per_run: messages, partitions },
      limits,
      // Limit (c), the floor (floor-phase.ts), per scenario it can run.
      floor,
      pg_tx_cpu: { host_cpu_us_per_tx: pgTx.hostCpuUs, host_busy: pgTx.hostBusy, host_cpu_split_us_per_tx: pgTx.hostSplitUs },
      broker_cpu: {
        burst_host_cpu_us_per_msg: amqpLimit.hostCpuUs,
        burst_host_cpu_split_us_per_msg: amqpLimit.hostSplitUs,
        paced_rate: paced.rate,
        paced_host_cpu_us_per_msg: paced.hostCpuUs,
        paced_delivery_p50_ms: paced.deliveryP50Ms,
        paced_delivery_p99_ms: paced.deliveryP99Ms,
      },
      scenarios: rows,
      // The HTTP door against the AMQP path's uniform rate in this run (1 worker).
      http: httpRows.map((h) => ({ ...h, ratio_vs_amqp_uniform: uniform ? round(h.requests_per_s / uniform.msgs_per_s, 2) : null })),
      duplicate_cost_vs_fresh: uniform && dupOnly ? round(uniform.msgs_per_s / dupOnly.msgs_per_s, 2) : null,
      // The same ratio in the worker's own CPU, and the floor's throughput ratio: what the
      // broker and the bench's publisher cost a duplicate bounds the throughput ratio for any worker.
      duplicate_worker_cpu_vs_fresh: uniform?.worker_cpu_us_per_msg && dupOnly?.worker_cpu_us_per_msg !== undefined ? round(dupOnly.worker_cpu_us_per_msg / uniform.worker_cpu_us_per_msg, 2) : null,
      floor_duplicate_cost_vs_fresh: floorRatio(floor),
      // One worker process; null where the run lacks what a target needs.
      targets: {
        uniform_ge_0_75x_floor: meetsFloorShare(uniform, 'uniform', floor, 0.75),
        hot_key_ge_0_75x_floor: meetsFloorShare(hot, 'hot-key', floor, 0.75),
        worker_cpu_le_120us_uniform: uniform?.worker_cpu_us_per_msg !== undefined ? uniform.worker_cpu_us_per_msg <= 120 : null,
        p99_lt_50ms_at_quarter_load: latencyRows.length > 0 && latencyRows.every((r) => quarterP99(r) !== undefined) ? latencyRows.every((r) => quarterP99(r)! < 50) : null,
        p99_lt_100ms_at_half_load: latencyRows.length > 0 ? latencyRows.every((r) => r.half_load.p99_ms < 100) : null,
        reservations_ge_0_5x_uniform: uniform && reservations ? reservations.msgs_per_s / uniform.msgs_per_s >= 0.5 : null,
        duplicate_cost_lt_25pct: uniform && dupOnly ? uniform.msgs_per_s / dupOnly.msgs_per_s < 0.25 : null,
        rss_lt_150mb: rows.every((r) => r.rss_mb < 150),
      },
    };
    steps.stop();
    printTable(report.limits, rows, report.duplicate_cost_vs_fresh, floor, report.broker_cpu);
    for (const h of report.http) process.stdout.write(`http door, 1 worker, ${h.wait_s > 0 ? `Prefer: wait=${h.wait_s}` : 'no wait'}: ${h.requests_per_s} requests/s (${h.ratio_vs_amqp_uniform ?? '?'} × uniform over AMQP), p50 ${h.p50_ms} ms, p99 ${h.p99_ms} ms\n`);
    if (jsonFile) writeFileSync(jsonFile, JSON.stringify(report, null, 2) + '\n');
    if (svgFile) writeFileSync(svgFile, throughputSvg(report.limits, floor, rows));
    process.stdout.write(`\n${JSON.stringify(report.targets)}\n`);
    return 0;
  } finally {
    await stats.end().catch(() => undefined);
  }
}

/** p99 of the paced run at a quarter of the full rate (the default `--loads`), where a latency target is set. */
function quarterP99(r: Row): number | undefined {
  return r.load_curve?.find((p) => 'fraction' in p && p.fraction === 0.25)?.p99_ms;
}

/** Limit (c)'s uniform ÷ duplicates-only throughput: a duplicate's cost to the host under the least code. */
function floorRatio(floor: FloorRow[]): number | null {
  const fresh = floor.find((f) => f.name === 'uniform');
  const dup = floor.find((f) => f.name === 'duplicates-only');
  return fresh && dup ? round(fresh.msgs_per_s / dup.msgs_per_s, 2) : null;
}

const SHORT: Record<string, string> = { 'duplicates-50': 'dup 50 %', 'duplicates-only': 'dup only', 'reservations-3-lines': '3-line res' };

interface Limits {
  amqp_publish: number;
  amqp_consume: number;
  pg_tx_per_s: number;
}

/** The chart of docs/performance.md: each scenario's throughput beside the measured limits. */
// The AMQP limit is left out: at 10–20× the rest it would flatten every other bar.
function throughputSvg(limits: Limits, floor: FloorRow[], rows: Row[]): string {
  const bars = [
    { label: 'limit: pg tx', value: limits.pg_tx_per_s },
    ...floor.map((f) => ({ label: `floor: ${SHORT[f.name] ?? f.name}`, value: f.msgs_per_s })),
    ...rows.map((r) => ({ label: `${SHORT[r.name] ?? r.name} ×${r.workers}`, value: r.msgs_per_s })),
  ];
  const figure = barChart({ title: 'stockflow end to end vs the machine\'s limits', bars, xLabel: 'scenario × worker processes', yLabel: 'messages per second' });
  return /<svg[\s\S]*<\/svg>/.exec(figure)![0] + '\n';
}

/**
 * Where a scenario's gap to the floor is, process by process: stockflow's host CPU per message
 * beside the floor's on the same scenario, which says whose share differs (the worker's own, or
 * the broker's and Postgres's work it causes).
 */
function floorLine(row: Row, floor: FloorRow): string {
  const ours = row.host_cpu_split_us_per_msg ? describeSplit(row.host_cpu_split_us_per_msg) : '–';
  return `${row.name}: ${row.msgs_per_s}/s = ${row.ratio_vs_floor ?? '–'} × limit (c) ${floor.msgs_per_s}/s; host CPU per message ${row.host_cpu_us_per_msg ?? '–'} µs (${ours}) against the floor's ${floor.host_cpu_us_per_msg} µs (${describeSplit(floor.host_cpu_split_us_per_msg)})`;
}

function printTable(limits: Limits, rows: Row[], dupCost: number | null, floor: FloorRow[], broker?: BrokerCpu): void {
  const out: string[] = [];
  out.push(`limits: amqp publish ${limits.amqp_publish}/s, amqp consume ${limits.amqp_consume}/s, pg per-message tx ${limits.pg_tx_per_s}/s`);
  if (broker) out.push(`broker alone, host CPU per message: ${broker.burst_host_cpu_us_per_msg} µs in bursts, ${broker.paced_host_cpu_us_per_msg} µs paced at ${broker.paced_rate}/s`);
  // No fresh message, no latency (duplicates only): NaN in the run, null in its JSON.
  const ms = (v: number | null | undefined) => (v === null || v === undefined || Number.isNaN(v) ? '–' : v);
  for (const f of floor) out.push(`limit (c) ${f.name}: ${f.msgs_per_s}/s, ${f.worker_cpu_us_per_msg}/${f.host_cpu_us_per_msg} µs per message (floor/host), p50 ${ms(f.half_load.p50_ms)} ms, p99 ${ms(f.half_load.p99_ms)} ms at half load, ${f.mean_batch} per statement, RSS ${f.rss_mb} MB`);
  out.push('');
  const head = ['scenario', 'workers', 'msgs/s', 'p50 ms', 'p99 ms', 'p50 ms ½', 'p99 ms ½', 'p99 ms ¼', 'RSS MB', 'cpu µs/msg', 'host µs ½', '× floor', '× pg tx', '× amqp pub'];
  const cpu = (r: Row) => (r.worker_cpu_us_per_msg === undefined ? '–' : `${r.worker_cpu_us_per_msg}/${r.host_cpu_us_per_msg}`);
  const lines = rows.map((r) => [r.name, r.workers, r.msgs_per_s, ms(r.p50_ms), ms(r.p99_ms), ms(r.half_load.p50_ms), ms(r.half_load.p99_ms), ms(quarterP99(r)), r.rss_mb, cpu(r), r.half_load.host_cpu_us_per_msg ?? '–', r.ratio_vs_floor ?? '–', r.ratio_vs_pg_tx, r.ratio_vs_amqp_publish].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  out.push(fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt));
  out.push('', 'cpu µs/msg: CPU time per message at full load, the worker processes\' / the whole host\'s (broker, Postgres and bench included); host µs ½: the host\'s at half load; × floor: against limit (c) on the same scenario (reservations: on uniform)');
  out.push('');
  for (const r of rows.filter((x) => x.workers === 1)) {
    const f = floor.find((x) => x.name === r.name);
    if (f) out.push(floorLine(r, f));
  }
  if (dupCost !== null) out.push('', `a duplicate costs ${Math.round(dupCost * 100)} % of a fresh message (uniform ÷ duplicates-only throughput, 1 worker)`);
  const floorDup = floorRatio(floor);
  if (floorDup !== null) out.push(`limit (c)'s duplicate costs ${Math.round(floorDup * 100)} % of its fresh message the same way`);
  process.stdout.write(out.join('\n') + '\n');
}

// Once interrupted, the signal handler cleans up and exits: the run ending (or failing under
// the teardown) meanwhile changes nothing.
main().then(
  async (code) => {
    if (interrupted) return;
    await teardown.close();
    reportCleanupFailures();
    process.exit(code);
  },
  async (err: unknown) => {
    if (interrupted) return;
    process.stderr.write(`[bench] failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    await teardown.close();
    reportCleanupFailures();
    process.exit(1);
  },
);
