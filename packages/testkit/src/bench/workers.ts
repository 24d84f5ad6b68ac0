import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { workerNodeArgs } from '@stockflow/shared';
import { sumSamples } from '../support/prometheus';
import type { Teardown } from '../support/teardown';
import { round } from './stats';

const ROOT = join(__dirname, '../../../..');

export interface BenchWorker {
  proc: ChildProcess;
  httpPort: number;
  maxRssMb: number;
  /** SIGTERM, SIGKILL after `graceMs` (0: at once); nothing when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts inventory-worker processes (the real dist/main.js) and waits until each is ready. Each
 * registers its stop with `teardown` before it is spawned, so one that never gets ready, or a
 * run stopped meanwhile, leaves no process behind.
 */
export async function startWorkers(count: number, env: Record<string, string>, teardown: Teardown): Promise<BenchWorker[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => startOne(i, env, teardown, INVENTORY_WORKER)));
}

/** Limit (c)'s process (bench/floor/floor-worker.ts), started and measured as a worker is. */
export async function startFloor(env: Record<string, string>, teardown: Teardown): Promise<BenchWorker> {
  return startOne(0, env, teardown, FLOOR);
}

/** What the bench runs as a worker, and the line of its stdout that says it is ready. */
interface WorkerProgram {
  what: string;
  script: string;
  ready: string;
}

const INVENTORY_WORKER: WorkerProgram = { what: 'inventory worker', script: 'services/inventory-worker/dist/main.js', ready: '"inventory-worker ready"' };
const FLOOR: WorkerProgram = { what: 'floor', script: 'packages/testkit/dist/bench/floor/floor-worker.js', ready: '"floor ready"' };

async function startOne(i: number, env: Record<string, string>, teardown: Teardown, program: WorkerProgram): Promise<BenchWorker> {
  const profile = [...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []), ...workerNodeArgs()];
  // The flood's orphan guard: a bench killed outright (SIGKILL) takes its workers with it.
  const guard = join(ROOT, 'packages/testkit/dist/flood/supervisor/orphan-guard.js');
  const started: { worker?: BenchWorker } = {};
  teardown.defer(`${program.what} ${i}`, async ({ hurry }) => started.worker?.stop(hurry ? 0 : undefined));
  const proc = spawn(process.execPath, [...profile, '--require', guard, join(ROOT, program.script)], {
    env: { ...process.env, ...env, INSTANCE_ID: `bench-inv-${i}-${process.pid}`, HTTP_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
    // Own process group: a terminal's Ctrl-C reaches only the bench, which stops its workers
    // with one SIGTERM (a second signal would make a worker skip its clean drain).
    detached: true,
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const worker: BenchWorker = (started.worker = {
    proc,
    httpPort: 0,
    maxRssMb: 0,
    async stop(graceMs = 20_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const force = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(force);
    },
  });
  worker.httpPort = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${program.what} did not get ready in 30 s`)), 30_000);
    proc.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.includes(program.ready)) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { httpPort: number }).httpPort);
        }
      }
    });
    proc.once('exit', (code) => reject(new Error(`${program.what} exited with ${code}`)));
  });
  return worker;
}

export function sampleRss(workers: BenchWorker[]): void {
  for (const w of workers) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${w.proc.pid}/status`, 'utf8'));
      if (m) w.maxRssMb = Math.max(w.maxRssMb, Number(m[1]) / 1024);
    } catch {
      // exited
    }
  }
}

/** What the bench reads from the workers' /metrics, summed over them; one scrape per worker. */
export interface MetricsReading {
  /** stockflow_messages_total: applied + duplicate + dead_lettered. */
  handled: number;
  /** stockflow_batch_messages histogram: messages applied and transactions. */
  batchSum: number;
  batchCount: number;
  /** Cumulative stockflow_processing_seconds buckets (delivery → commit) by upper bound. */
  buckets: Map<number, number>;
  /** stockflow_stage_seconds sum and count per stage (where delivery → commit goes). */
  stages: Map<string, { sum: number; count: number }>;
  /** stockflow_outbox_published_total of each worker, in order: the events its relay published. */
  published: number[];
}

export async function readMetrics(workers: BenchWorker[]): Promise<MetricsReading> {
  const r: MetricsReading = { handled: 0, batchSum: 0, batchCount: 0, buckets: new Map(), stages: new Map(), published: [] };
  for (const w of workers) {
    const text = await (await fetch(`http://127.0.0.1:${w.httpPort}/metrics`)).text();
    r.handled += sumSamples(text, 'stockflow_messages_total');
    r.batchSum += sumSamples(text, 'stockflow_batch_messages_sum');
    r.batchCount += sumSamples(text, 'stockflow_batch_messages_count');
    r.published.push(sumSamples(text, 'stockflow_outbox_published_total'));
    for (const m of text.matchAll(/^stockflow_processing_seconds_bucket\{le="([^"]+)"[^}]*\} (\d+)/gm)) {
      const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
      r.buckets.set(le, (r.buckets.get(le) ?? 0) + Number(m[2]));
    }
    for (const m of text.matchAll(/^stockflow_stage_seconds_(sum|count)\{[^}]*stage="([^"]+)"[^}]*\} (\S+)/gm)) {
      const s = r.stages.get(m[2]!) ?? { sum: 0, count: 0 };
      s[m[1] as 'sum' | 'count'] += Number(m[3]);
      r.stages.set(m[2]!, s);
    }
  }
  return r;
}

/** Events each worker's relay published per second between two readings `seconds` apart. */
export function eventsPerSecBetween(before: MetricsReading, after: MetricsReading, seconds: number): number[] {
  return after.published.map((n, i) => round((n - (before.published[i] ?? 0)) / seconds, 0));
}

/** Mean ms per applied message of each stage of delivery → commit between two readings. */
export function stageMeansBetween(before: MetricsReading, after: MetricsReading): Record<string, number> {
  const means: Record<string, number> = {};
  for (const [stage, a] of after.stages) {
    const b = before.stages.get(stage) ?? { sum: 0, count: 0 };
    if (a.count > b.count) means[stage] = round(((a.sum - b.sum) / (a.count - b.count)) * 1000, 1);
  }
  return means;
}

/** Mean messages per transaction between two readings. */
export function meanBatchBetween(before: MetricsReading, after: MetricsReading): number {
  return round((after.batchSum - before.batchSum) / Math.max(1, after.batchCount - before.batchCount), 1);
}

/** Sum over the workers of a number read from /proc/<pid>/<file>; a worker that exited counts 0. */
function sumProc(workers: BenchWorker[], file: string, read: (text: string) => number): number {
  let sum = 0;
  for (const w of workers) {
    try {
      sum += read(readFileSync(`/proc/${w.proc.pid}/${file}`, 'utf8'));
    } catch {
      // exited
    }
  }
  return sum;
}

/** CPU seconds a process has used so far (utime + stime), from the text of its /proc/<pid>/stat. */
export function procStatCpuS(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** CPU seconds the workers have used so far (utime + stime from /proc). */
export function workerCpuS(workers: BenchWorker[]): number {
  return sumProc(workers, 'stat', procStatCpuS);
}

/**
 * Write system calls the workers have made so far (syscw from /proc: write and writev, almost
 * all of them socket sends to Postgres, the broker and Redis). A count: steadier than CPU time
 * on these machines, and each loopback send costs the sender the receiver's wake-up too.
 */
export function workerWriteCalls(workers: BenchWorker[]): number {
  return sumProc(workers, 'io', (io) => Number(/syscw:\s+(\d+)/.exec(io)?.[1] ?? 0));
}

/** CPU seconds the whole host has been busy so far (every process: broker, Postgres, bench too). */
export function hostCpuS(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
}

// USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK).
const CLOCK_TICKS = 100;

/** The bucket bound (ms) under which `p` % of the observations between two readings fall. */
export function bucketPercentile(before: MetricsReading, after: MetricsReading, p: number): number {
  const [b, a] = [before.buckets, after.buckets];
  const les = [...a.keys()].sort((x, y) => x - y);
  const total = (a.get(Infinity) ?? 0) - (b.get(Infinity) ?? 0);
  for (const le of les) if ((a.get(le) ?? 0) - (b.get(le) ?? 0) >= (total * p) / 100) return le * 1000;
  return Infinity;
}
