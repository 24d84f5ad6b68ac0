import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpuBetween, cpuSnapshot, describeSplit, perUnitUs } from './process-cpu';

/** A child that burns 400 ms of its own CPU time (not wall time: CI's cores are shared), says so, then idles. */
function spinner(): ChildProcess {
  const script = 'const u = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; }; const t = u(); while (u() - t < 400); process.stdout.write("done\\n"); setInterval(() => {}, 1000);';
  return spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
}

async function splitAround(child: ChildProcess, workerPids: number[]) {
  const before = cpuSnapshot(workerPids);
  await once(child.stdout!, 'data');
  return cpuBetween(before, cpuSnapshot(workerPids));
}

describe('host CPU split by process', () => {
  it('charges a busy worker process to "worker", and the same process unnamed to "other"', async () => {
    // One after the other: each spins only once its snapshot is taken. /proc counts in 10 ms ticks.
    const named = spinner();
    let unnamed: ChildProcess | undefined;
    try {
      const asWorker = await splitAround(named, [named.pid!]);
      expect(asWorker.worker).toBeGreaterThanOrEqual(0.35);
      expect(asWorker.bench).toBeLessThan(asWorker.worker);
      unnamed = spinner();
      const asNobody = await splitAround(unnamed, []);
      expect(asNobody.worker).toBe(0);
      expect(asNobody.other).toBeGreaterThanOrEqual(0.35);
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
