import { readdirSync, readFileSync } from 'node:fs';
import { hostCpuS, procStatCpuS } from './workers';

/**
 * Who on the host spent the CPU: the whole host's busy time split by process. The targets are
 * ratios to the machine's own limits, and on one 2-core host the broker, Postgres, Redis and the
 * load generator share the cores with the worker, so "what bounds this scenario" is a question
 * about all of them, answered per message.
 */
export type CpuGroup = 'worker' | 'broker' | 'postgres' | 'redis' | 'bench' | 'other';
export type CpuByGroup = Record<CpuGroup, number>;

const BROKER = new Set(['beam.smp', 'erl_child_setup', 'epmd', 'inet_gethost']);

function groupOf(pid: number, comm: string, workerPids: Set<number>): Exclude<CpuGroup, 'other'> | undefined {
  if (workerPids.has(pid)) return 'worker';
  if (pid === process.pid) return 'bench';
  if (BROKER.has(comm)) return 'broker';
  if (comm === 'postgres') return 'postgres';
  if (comm === 'redis-server') return 'redis';
  return undefined;
}

export interface CpuSnapshot {
  /** The whole host's busy CPU seconds so far (hostCpuS). */
  host: number;
  /** CPU seconds so far of each live process of a named group (utime + stime). */
  perPid: Map<number, { group: Exclude<CpuGroup, 'other'>; s: number }>;
}

export function cpuSnapshot(workerPids: Iterable<number> = []): CpuSnapshot {
  const workers = new Set(workerPids);
  const perPid: CpuSnapshot['perPid'] = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const pid = Number(name);
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const group = groupOf(pid, comm, workers);
    if (!group) continue;
    perPid.set(pid, { group, s: procStatCpuS(stat) });
  }
  return { host: hostCpuS(), perPid };
}

/**
 * CPU seconds per group between two snapshots. A process that started meanwhile counts whole
 * (a Postgres backend of a new connection); one that exited meanwhile is lost to its group and
 * shows up in `other`, which is the host's busy time nobody named took: the kernel's own
 * threads and interrupts, the other processes.
 */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuByGroup {
  const by: CpuByGroup = { worker: 0, broker: 0, postgres: 0, redis: 0, bench: 0, other: 0 };
  for (const [pid, now] of b.perPid) by[now.group] += now.s - (a.perPid.get(pid)?.s ?? 0);
  const named = by.worker + by.broker + by.postgres + by.redis + by.bench;
  by.other = Math.max(0, b.host - a.host - named);
  return by;
}

/** "worker 250, broker 180, Postgres 120, Redis 10, bench 60, other 40" (µs per unit; groups at 0 left out). */
export function describeSplit(us: CpuByGroup): string {
  const label: Record<CpuGroup, string> = { worker: 'worker', broker: 'broker', postgres: 'Postgres', redis: 'Redis', bench: 'bench', other: 'other' };
  return (Object.keys(label) as CpuGroup[])
    .filter((g) => us[g] > 0)
    .map((g) => `${label[g]} ${us[g]}`)
    .join(', ');
}

/** Each group's CPU in µs per unit (message, transaction), rounded. */
export function perUnitUs(by: CpuByGroup, units: number): CpuByGroup {
  const out = { ...by };
  for (const g of Object.keys(out) as CpuGroup[]) out[g] = Math.round((by[g] * 1e6) / Math.max(1, units));
  return out;
}
