import type { Tx } from './database';

export interface LockRequest {
  /** Schema-qualified, quoted table, e.g. "inventory".stock */
  table: string;
  /** Key columns, in the canonical lock order (ORDER BY uses them left to right). */
  columns: string[];
  /** Postgres types of the key columns, for the unnest() arrays. */
  types: string[];
  keys: readonly (readonly (string | number)[])[];
  /** Columns to return (default *). */
  select?: string;
}

/**
 * Locks the rows of a set of keys in one canonical order (ORDER BY the key columns) inside
 * the caller's transaction and returns them. Postgres takes the row locks as the sorted rows
 * come out of the sort, so every transaction that locks through here acquires overlapping
 * rows in the same order and two of them can never wait on each other in a cycle.
 * Missing keys are simply absent from the result (create rows beforehand, outside the
 * transaction, so row creation cannot take locks out of order).
 */
export async function lockInOrder<R>(tx: Tx, req: LockRequest): Promise<R[]> {
  const unique = dedupeKeys(req.keys);
  if (unique.length === 0) return [];
  const cols = req.columns;
  const arrays = cols.map((_, i) => unique.map((k) => k[i]));
  const unnest = cols.map((_, i) => `$${i + 1}::${req.types[i]}[]`).join(', ');
  const alias = cols.map((_, i) => `k${i}`).join(', ');
  const join = cols.map((c, i) => `t.${c} = k.k${i}`).join(' AND ');
  const order = cols.map((c) => `t.${c}`).join(', ');
  const sql = `SELECT ${req.select ?? 't.*'} FROM ${req.table} t JOIN unnest(${unnest}) AS k(${alias}) ON ${join}
               ORDER BY ${order} FOR UPDATE OF t`;
  return tx.query<R>(sql, arrays);
}

function dedupeKeys(keys: LockRequest['keys']): (readonly (string | number)[])[] {
  const seen = new Map<string, readonly (string | number)[]>();
  for (const k of keys) seen.set(JSON.stringify(k), k);
  return [...seen.values()];
}
