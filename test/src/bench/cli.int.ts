import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { Client } from 'pg';
import { descendantsOf, isAlive, leftoversOf, NOTHING_LEFT, removeLeftovers } from '../support/leftovers';
import { LOCAL_DEFAULTS } from '../support/services';
import { withDatabase } from '@stockflow/testkit/support/template-db';

const CLI = join(__dirname, '../../../packages/testkit/dist/bench/cli.js');
// As small as the bench goes: one worker, one scenario, 2 partitions, a short paced run.
const SMALL = ['--messages', '1000', '--workers', '1', '--only', 'uniform', '--partitions', '2', '--paced', '50'];

async function benchDatabases(): Promise<string[]> {
  const pg = new Client({ connectionString: withDatabase(process.env.DATABASE_URL || LOCAL_DEFAULTS.DATABASE_URL, 'postgres') });
  await pg.connect();
  try {
    return (await pg.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'sf\\_bench\\_%'`)).rows.map((r) => r.datname);
  } finally {
    await pg.end();
  }
}

/**
 * `npm run bench` stopped by a signal removes what it created (its database sf_bench_<id>, the
 * namespace bench-<id>'s queues, exchanges and Redis keys) and its worker processes, and exits
 * non-zero; `--help` and an unknown flag start nothing.
 */
describe('bench CLI', () => {
  let namespaces: string[] = [];
  let pids: number[] = [];

  afterEach(async () => {
    // A failing case must not leak in turn.
    for (const pid of pids.filter(isAlive)) process.kill(pid, 'SIGKILL');
    for (const ns of namespaces) await removeLeftovers(ns);
    namespaces = [];
    pids = [];
  });

  it('--help prints the usage and starts nothing', async () => {
    const before = await benchDatabases();
    const run = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8', timeout: 120_000 });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    expect(run.stdout).toMatch(/^Usage: npm run bench -- .*--messages N/);
    expect(await benchDatabases()).toEqual(before);
  }, 150_000);

  it('an unknown flag is a usage error (exit 2) and starts nothing', async () => {
    const before = await benchDatabases();
    const run = spawnSync(process.execPath, [CLI, '--mesages', '1000'], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--mesages');
    expect(run.stdout).toBe('');
    expect(await benchDatabases()).toEqual(before);
  }, 150_000);

  /** The bench in a process group of its own, stopped by `signal` once stderr shows `when`. */
  async function interrupted(signal: NodeJS.Signals, when: string) {
    const before = new Set(await benchDatabases());
    const bench = spawn(process.execPath, [CLI, ...SMALL], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    pids = [bench.pid!];
    let stderr = '';
    const exited = once(bench, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    await new Promise<void>((resolve, reject) => {
      bench.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
        if (stderr.includes(when)) resolve();
      });
      bench.once('exit', () => reject(new Error(`bench exited before '${when}':\n${stderr}`)));
    });
    const created = (await benchDatabases()).filter((d) => !before.has(d));
    expect(created).toHaveLength(1);
    const namespace = created[0]!.replace(/^sf_bench_/, 'bench-');
    namespaces.push(namespace);
    const children = descendantsOf(bench.pid!);
    pids.push(...children);
    bench.kill(signal);
    const [code, by] = await exited;
    return { code, by, namespace, children, stderr };
  }

  it('SIGTERM while its worker runs: the worker is stopped and its database, queues and Redis keys are removed', async () => {
    const { code, by, namespace, children } = await interrupted('SIGTERM', 'uniform, 1 worker(s)');
    expect(children.length).toBeGreaterThanOrEqual(1);
    expect({ alive: pids.filter(isAlive), left: await leftoversOf(namespace) }).toEqual({ alive: [], left: NOTHING_LEFT });
    expect({ code, by }).toEqual({ code: 143, by: null });
  }, 180_000);

  it('SIGTERM while limit (c) runs: the floor process is stopped and nothing is left', async () => {
    const { code, by, namespace, children } = await interrupted('SIGTERM', 'limit (c) uniform:');
    expect(children.length).toBeGreaterThanOrEqual(1);
    expect({ alive: pids.filter(isAlive), left: await leftoversOf(namespace) }).toEqual({ alive: [], left: NOTHING_LEFT });
    expect({ code, by }).toEqual({ code: 143, by: null });
  }, 180_000);

  it('SIGINT while it measures the broker: its database and measuring queue are removed', async () => {
    const { code, by, namespace } = await interrupted('SIGINT', 'limit (a)');
    expect({ alive: pids.filter(isAlive), left: await leftoversOf(namespace) }).toEqual({ alive: [], left: NOTHING_LEFT });
    expect({ code, by }).toEqual({ code: 130, by: null });
  }, 180_000);
});
