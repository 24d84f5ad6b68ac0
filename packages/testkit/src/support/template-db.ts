import { Client } from 'pg';
import pino from 'pino';
import { Database } from '@stockflow/shared';
import { SERVICE_SCHEMAS } from './service-schemas';

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function adminQuery(serverUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: withDatabase(serverUrl, 'postgres') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A database with every service's migrations applied, cloned per test file with
 * CREATE DATABASE … TEMPLATE (graphile-worker's trick): a fresh, migrated database in ~100 ms.
 */
export async function createTemplate(serverUrl: string, name: string): Promise<void> {
  await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await adminQuery(serverUrl, `CREATE DATABASE "${name}"`);
  const log = pino({ level: 'silent' });
  for (const s of SERVICE_SCHEMAS) {
    const db = await Database.open({ url: withDatabase(serverUrl, name), schema: s.schema, migrations: s.migrations, entities: [], poolSize: 1, applicationName: 'stockflow:test-template', log });
    try {
      await db.migrate();
    } finally {
      await db.close();
    }
  }
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Template databases of jest runs that were killed before their teardown (named after the dead run's pid). */
export async function removeStaleTemplates(serverUrl: string): Promise<string[]> {
  const client = new Client({ connectionString: withDatabase(serverUrl, 'postgres') });
  await client.connect();
  let names: string[];
  try {
    names = (await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'sf\\_tmpl\\_%'")).rows.map((r) => r.datname);
  } finally {
    await client.end();
  }
  const stale = names.filter((n) => {
    const pid = Number(n.slice('sf_tmpl_'.length));
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid);
  });
  for (const n of stale) await dropDatabase(serverUrl, n);
  return stale;
}
