import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpuBetween, cpuSnapshot, describeSplit, perUnitUs } from './process-cpu';

describe('host CPU split by process', () => {
  it('charges a busy worker process to "worker" and not to the bench or "other"', async () => {
    // A child that spins for 400 ms of CPU, then waits to be read and killed.
    const child = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 400); process.stdout.write("done\\n"); setInterval(() => {}, 1000);'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const before = cpuSnapshot([child.pid!]);
      await once(child.stdout, 'data');
      const by = cpuBetween(before, cpuSnapshot([child.pid!]));
      // Its spin (and its start-up) lands on the worker; /proc counts in 10 ms ticks.
      expect(by.worker).toBeGreaterThanOrEqual(0.35);
      expect(by.bench).toBeLessThan(by.worker);
      // "other" is what nobody named took: not the child's spin.
      expect(by.other).toBeLessThan(0.3);
    } finally {
      child.kill();
    }
  });

  it('reports per unit in µs and leaves out groups that used nothing', () => {
    const us = perUnitUs({ worker: 0.5, broker: 0.25, postgres: 0, redis: 0, bench: 0.125, other: 0 }, 1000);
    expect(us).toEqual({ worker: 500, broker: 250, postgres: 0, redis: 0, bench: 125, other: 0 });
    expect(describeSplit(us)).toBe('worker 500, broker 250, bench 125');
  });
});
