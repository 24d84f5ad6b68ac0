import { spawn, type ChildProcess } from 'node:child_process';
import { cpuBetween, cpuSnapshot, describeSplit, perUnitUs, type CpuByGroup } from './process-cpu';

const SPIN_S = 0.4;
// /proc counts in 10 ms ticks, and each of the two readings of a process may lose one.
const TICKS = 0.02;

/**
 * A child that says "ready" once started, burns 400 ms of its own CPU time (not wall time: CI's
 * cores are shared) when told "go", says "done", then idles. Its start-up CPU falls before the
 * measured window, and all of its spinning inside it.
 */
function spinner(): ChildProcess {
  const script =
    'const u = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };' +
    `process.stdin.once("data", () => { const t = u(); while (u() - t < ${SPIN_S * 1000}); process.stdout.write("done\\n"); });` +
    'process.stdout.write("ready\\n"); setInterval(() => {}, 1000);';
  return spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
}

function said(child: ChildProcess, word: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (!out.split('\n').includes(word)) return;
      child.stdout!.off('data', onData);
      resolve();
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`spinner exited (${code}) before saying ${word}`)));
  });
}

/** The split over the child's spinning, and the CPU seconds this process (the "bench") used meanwhile. */
async function splitAround(child: ChildProcess, workerPids: number[]): Promise<{ split: CpuByGroup; ownS: number }> {
  await said(child, 'ready');
  const done = said(child, 'done');
  const own0 = process.cpuUsage();
  const before = cpuSnapshot(workerPids);
  child.stdin!.write('go\n');
  await done;
  const split = cpuBetween(before, cpuSnapshot(workerPids));
  const own = process.cpuUsage(own0);
  return { split, ownS: (own.user + own.system) / 1e6 };
}

describe('host CPU split by process', () => {
  it('charges a busy worker process to "worker", and the same process unnamed to "other"', async () => {
    const named = spinner();
    let unnamed: ChildProcess | undefined;
    try {
      const asWorker = await splitAround(named, [named.pid!]);
      expect(asWorker.split.worker).toBeGreaterThanOrEqual(SPIN_S - TICKS);
      // "bench" is this process, whatever else it did in the window (under load it can use more
      // CPU than the spinner): never more than it measured itself, so none of the child's.
      expect(asWorker.split.bench).toBeLessThanOrEqual(asWorker.ownS + TICKS);
      unnamed = spinner();
      const asNobody = await splitAround(unnamed, []);
      expect(asNobody.split.worker).toBe(0);
      expect(asNobody.split.bench).toBeLessThanOrEqual(asNobody.ownS + TICKS);
      // `other` is the host's busy time (/proc/stat, counted per tick) less the named processes'
      // own accounting; under load the two drift apart by a few ticks, so a wider margin.
      expect(asNobody.split.other).toBeGreaterThanOrEqual(SPIN_S - 0.1);
    } finally {
      named.kill();
      unnamed?.kill();
    }
  });

  it('reports per unit in µs and leaves out groups that used nothing', () => {
    const us = perUnitUs({ worker: 0.5, broker: 0.25, postgres: 0, redis: 0, bench: 0.125, other: 0 }, 1000);
    expect(us).toEqual({ worker: 500, broker: 250, postgres: 0, redis: 0, bench: 125, other: 0 });
    expect(describeSplit(us)).toBe('worker 500, broker 250, bench 125');
  });
});
