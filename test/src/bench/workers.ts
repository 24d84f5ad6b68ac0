import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { workerNodeArgs } from '@stockflow/shared';

const ROOT = join(__dirname, '../../..');

export interface BenchWorker {
  proc: ChildProcess;
  httpPort: number;
  maxRssMb: number;
  stop(): Promise<void>;
}

/** Starts inventory-worker processes (the real dist/main.js) and waits until each is ready. */
export async function startWorkers(count: number, env: Record<string, string>): Promise<BenchWorker[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => startOne(i, env)));
}

async function startOne(i: number, env: Record<string, string>): Promise<BenchWorker> {
  const profile = [...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []), ...workerNodeArgs()];
  const proc = spawn(process.execPath, [...profile, join(ROOT, 'services/inventory-worker/dist/main.js')], {
    env: { ...process.env, ...env, INSTANCE_ID: `bench-inv-${i}-${process.pid}`, HTTP_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const worker: BenchWorker = {
    proc,
    httpPort: 0,
    maxRssMb: 0,
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
  worker.httpPort = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('inventory worker did not get ready in 30 s')), 30_000);
    proc.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.includes('"inventory-worker ready"')) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { httpPort: number }).httpPort);
        }
      }
    });
    proc.once('exit', (code) => reject(new Error(`inventory worker exited with ${code}`)));
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

/** Σ of stockflow_messages_total over the workers (applied + duplicate + dead_lettered). */
export async function handledCount(workers: BenchWorker[]): Promise<number> {
  let total = 0;
  for (const w of workers) {
    const text = await (await fetch(`http://127.0.0.1:${w.httpPort}/metrics`)).text();
    for (const m of text.matchAll(/^stockflow_messages_total\{[^}]*\} (\d+)/gm)) total += Number(m[1]);
  }
  return total;
}

/** Mean messages per transaction so far (stockflow_batch_size histogram), over the workers. */
export async function meanBatch(workers: BenchWorker[]): Promise<{ sum: number; count: number }> {
  let sum = 0;
  let count = 0;
  for (const w of workers) {
    const text = await (await fetch(`http://127.0.0.1:${w.httpPort}/metrics`)).text();
    sum += Number(/^stockflow_batch_size_sum\{[^}]*\} ([\d.e+]+)/m.exec(text)?.[1] ?? 0);
    count += Number(/^stockflow_batch_size_count\{[^}]*\} ([\d.e+]+)/m.exec(text)?.[1] ?? 0);
  }
  return { sum, count };
}

/** CPU seconds the workers have used so far (utime + stime from /proc). */
export function workerCpuS(workers: BenchWorker[]): number {
  let ticks = 0;
  for (const w of workers) {
    try {
      const stat = readFileSync(`/proc/${w.proc.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return ticks / CLOCK_TICKS;
}

/** CPU seconds the whole host has been busy so far (every process: broker, Postgres, bench too). */
export function hostCpuS(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
}

// USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK).
const CLOCK_TICKS = 100;

/** Cumulative stockflow_processing_seconds buckets (delivery → commit), summed over workers and types. */
export async function processingBuckets(workers: BenchWorker[]): Promise<Map<number, number>> {
  const buckets = new Map<number, number>();
  for (const w of workers) {
    const text = await (await fetch(`http://127.0.0.1:${w.httpPort}/metrics`)).text();
    for (const m of text.matchAll(/^stockflow_processing_seconds_bucket\{le="([^"]+)"[^}]*\} (\d+)/gm)) {
      const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
      buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
    }
  }
  return buckets;
}

/** The bucket bound (ms) under which `p` % of the observations between two readings fall. */
export function bucketPercentile(before: Map<number, number>, after: Map<number, number>, p: number): number {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const le of les) if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= (total * p) / 100) return le * 1000;
  return Infinity;
}
