import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { descendantsOf, isAlive, leftoversOf, NOTHING_LEFT, removeLeftovers } from '../support/leftovers';
import { FloodCancelled, runFlood } from '@stockflow/testkit/flood/flood';
import { defaultOptions, type FloodOptions } from '@stockflow/testkit/flood/options';
import type { FloodReport } from '@stockflow/testkit/flood/report/types';
import { cancelRunningFloods } from '@stockflow/testkit/flood/run/active-runs';
import { ROOT } from '@stockflow/testkit/flood/supervisor/worker-process';

/**
 * Every flood removes what it created (database sf_<namespace>, the namespace's queues,
 * exchanges and Redis keys, its worker processes) however it ends: a report that fails, an
 * exception while it starts, a test that timed out and abandoned it, a CLI stopped by signals
 * (once: after its check; twice: at once). Each case runs a small flood in a namespace of its
 * own and then looks on the services themselves for anything left.
 */
describe('flood cleanup on every exit path', () => {
  let namespace: string;
  let pids: number[] = [];

  beforeEach(() => {
    namespace = `fl-cleanup-${randomBytes(3).toString('hex')}`;
    pids = [];
  });

  afterEach(async () => {
    // A failing case must not leak in turn.
    for (const pid of pids.filter(isAlive)) process.kill(pid, 'SIGKILL');
    await removeLeftovers(namespace);
  });

  function small(overrides: Partial<FloodOptions> = {}): FloodOptions {
    return { ...defaultOptions(), seed: '21', commands: 300, duplicates: 0.2, faults: [], quiet: true, instances: { inventory: 1, orders: 1, payments: 1 }, namespace, quiesceTimeoutMs: 30_000, drainMaxMs: 120_000, ...overrides };
  }

  it('a run whose check fails removes its database, queues, exchanges and Redis keys', async () => {
    const { report } = await runFlood(small(), {
      // What a sabotaged worker or a real bug does: the stock no longer matches its ledger.
      beforeCheck: async ({ env }) => {
        await env.pool.query(`UPDATE inventory.stock SET on_hand = on_hand + 1 WHERE (product_id, warehouse_id) IN (SELECT product_id, warehouse_id FROM inventory.stock LIMIT 1)`);
      },
    });
    expect(report.invariants.find((i) => i.name === 'stock-levels')?.ok).toBe(false);
    expect(report.ok).toBe(false);
    expect(await leftoversOf(namespace)).toEqual(NOTHING_LEFT);
  }, 180_000);

  it('a run that fails while it starts (its workers never get ready) removes everything it created', async () => {
    const lines: string[] = [];
    await expect(runFlood(small({ workerEnv: { PREFETCH: 'lots' } }), { say: (line) => lines.push(line) })).rejects.toThrow(/exited/);
    expect(await leftoversOf(namespace)).toEqual(NOTHING_LEFT);
  }, 120_000);

  it('a run a timed-out test abandoned is cancelled by the suite and removes everything, its worker processes too', async () => {
    // What jest does on a timeout: the test fails, the run goes on, afterEach (support/
    // abandoned-floods.ts) cancels it. Called here at the same point, mid-publishing.
    let published!: () => void;
    const publishing = new Promise<void>((resolve) => (published = resolve));
    const before = new Set(descendantsOf(process.pid));
    const abandoned = runFlood(small({ commands: 50_000, rate: 200 }), { say: (line) => line.startsWith('setup done') && published() });
    abandoned.catch(() => undefined);
    await publishing;
    pids = descendantsOf(process.pid).filter((pid) => !before.has(pid));
    expect(pids.length).toBeGreaterThanOrEqual(4);

    expect(await cancelRunningFloods()).toBe(1);
    await expect(abandoned).rejects.toThrow(FloodCancelled);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(await leftoversOf(namespace)).toEqual(NOTHING_LEFT);
    expect(await cancelRunningFloods()).toBe(0);
  }, 120_000);

  /** The flood CLI in a process group of its own (as a shell runs it), once it is publishing. */
  async function startCli(extra: string[] = []) {
    const cli = spawn(process.execPath, [join(ROOT, 'packages/testkit/dist/flood/cli.js'), '--namespace', namespace, '--seed', '22', '--commands', '20000', '--rate', '200', '--faults', 'none', '--instances', '1', '--progress-ms', '3600000', ...extra], {
      env: process.env,
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    let stderr = '';
    cli.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = once(cli, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const seen = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const look = () => {
          if (!stderr.includes(text)) return;
          cli.stderr.off('data', look);
          cli.off('exit', gone);
          resolve();
        };
        const gone = () => reject(new Error(`flood CLI exited before printing '${text}':\n${stderr}`));
        cli.stderr.on('data', look);
        cli.once('exit', gone);
        look();
      });
    // Publishing: the database, the topology, the workers and the provider all exist.
    await seen('setup done');
    pids = [cli.pid!, ...descendantsOf(cli.pid!)];
    expect(pids.length).toBeGreaterThanOrEqual(5);
    expect((await leftoversOf(namespace)).database).toBeDefined();
    return { cli, seen, exited };
  }

  it('the CLI interrupted by Ctrl-C (SIGINT to its process group) stops its own workers after the check and removes everything', async () => {
    const json = join(tmpdir(), `${namespace}.json`);
    const { cli, exited } = await startCli(['--json', json]);
    // A terminal sends Ctrl-C to the whole foreground process group.
    process.kill(-cli.pid!, 'SIGINT');
    const [code, signal] = await exited;

    // Stopped before quiescence, so the check fails (1); not 2: its provider and workers were
    // not interrupted under it, so it could check at all and nothing needed a restart.
    expect({ code, signal }).toEqual({ code: 1, signal: null });
    const report = JSON.parse(readFileSync(json, 'utf8')) as FloodReport;
    rmSync(json, { force: true });
    expect(report.restarts).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(await leftoversOf(namespace)).toEqual(NOTHING_LEFT);
  }, 180_000);

  it('the CLI stopped by SIGTERM twice abandons the check, removes everything and leaves no worker process running', async () => {
    const { cli, seen, exited } = await startCli();
    cli.kill('SIGTERM');
    await seen('SIGTERM: stopping');
    cli.kill('SIGTERM');
    const [code, signal] = await exited;

    expect({ code, signal }).toEqual({ code: 130, signal: null });
    expect(pids.filter(isAlive)).toEqual([]);
    expect(await leftoversOf(namespace)).toEqual(NOTHING_LEFT);
  }, 180_000);
});
