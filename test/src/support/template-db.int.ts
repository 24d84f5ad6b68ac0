import { spawnSync } from 'node:child_process';
import { Client } from 'pg';
import { adminQuery, removeStaleTemplates, withDatabase } from '@stockflow/testkit/support/template-db';

const SERVER = process.env.DATABASE_URL!;

async function exists(name: string): Promise<boolean> {
  const client = new Client({ connectionString: withDatabase(SERVER, 'postgres') });
  await client.connect();
  try {
    return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  } finally {
    await client.end();
  }
}

describe('template databases of killed jest runs', () => {
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  const stale = `sf_tmpl_${dead}`;
  const live = process.env.STOCKFLOW_TEST_TEMPLATE!;
  afterAll(async () => {
    await adminQuery(SERVER, `DROP DATABASE IF EXISTS "${stale}" WITH (FORCE)`);
  });

  it('are dropped while the running one (this run\'s) is kept', async () => {
    await adminQuery(SERVER, `CREATE DATABASE "${stale}"`);
    const removed = await removeStaleTemplates(SERVER);
    expect(removed).toContain(stale);
    expect(await exists(stale)).toBe(false);
    expect(removed).not.toContain(live);
    expect(await exists(live)).toBe(true);
  });
});
