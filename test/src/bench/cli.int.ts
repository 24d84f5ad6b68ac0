import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { LOCAL_DEFAULTS } from '../support/services';
import { withDatabase } from '../support/template-db';

const CLI = join(__dirname, '../../dist/bench/cli.js');

async function benchDatabases(): Promise<string[]> {
  const pg = new Client({ connectionString: withDatabase(process.env.DATABASE_URL || LOCAL_DEFAULTS.DATABASE_URL, 'postgres') });
  await pg.connect();
  try {
    return (await pg.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'sf\\_bench\\_%'`)).rows.map((r) => r.datname);
  } finally {
    await pg.end();
  }
}

/** `npm run bench`: `--help` and an unknown flag start nothing. */
describe('bench CLI', () => {
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
});
