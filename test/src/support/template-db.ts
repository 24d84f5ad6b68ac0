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
