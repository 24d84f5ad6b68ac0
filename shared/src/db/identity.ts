import { createHash } from 'node:crypto';
import type { Tx } from './database';

/**
 * Who a service's database is. `token` is drawn once when its schema is made (meta 'identity')
 * and never leaves the worker. `scope` adds what changes when the database is replaced under
 * the same name: its OID (dropped and made again, or a dump restored into a new database), the
 * cluster's system identifier (initdb) and the WAL timeline (a point-in-time restore, a
 * failover). Caches keyed by `scope` are never read by a database that did not fill them.
 */
export interface DatabaseIdentity {
  token: string;
  scope: string;
}

export async function databaseIdentity(query: Tx['query'], schema: string): Promise<DatabaseIdentity> {
  const [row] = await query<{ token: string | null; system: string; timeline: number; oid: string }>(
    `SELECT (SELECT value FROM "${schema}".meta WHERE key = 'identity') AS token,
            (SELECT system_identifier FROM pg_control_system())::text AS system,
            (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline,
            (SELECT oid FROM pg_database WHERE datname = current_database())::text AS oid`,
  );
  if (!row?.token) throw new Error(`${schema}.meta has no identity (migrations not applied?)`);
  const scope = createHash('sha256').update(`${row.token}:${row.system}:${row.timeline}:${row.oid}`).digest('hex').slice(0, 12);
  return { token: row.token, scope };
}
