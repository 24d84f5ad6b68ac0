import { TransientError } from '../errors';
import type { Tx } from './database';

/**
 * Rows as the parallel arrays that `unnest($1::type[], $2::type[], …)` turns back into rows: one
 * array per value `values` returns, in that order. A bulk write is then one statement whose text
 * does not depend on the row count, so it stays one prepared statement. `rows` must not be empty
 * (there would be no arrays at all).
 */
export function unnestArrays<T>(rows: readonly T[], values: (row: T) => readonly unknown[]): unknown[][] {
  const tuples = rows.map(values);
  return (tuples[0] ?? []).map((_, i) => tuples.map((t) => t[i]));
}

export interface AllRowsWrite<T> {
  /** INSERT … ON CONFLICT DO NOTHING or a versioned UPDATE; $1…$n are `values`' unnest() arrays, in order. */
  sql: string;
  rows: readonly T[];
  values: (row: T) => readonly unknown[];
  /** The TransientError's message when fewer rows were written than given. */
  shortfall: string;
}

/**
 * Sends a bulk write that must write every row it is given, and rejects with a TransientError
 * when it wrote fewer; the retried transaction then sees what was in the way:
 * - an `INSERT … ON CONFLICT DO NOTHING` of new rows inserts fewer when another consumer created
 *   one of them concurrently;
 * - an `UPDATE … FROM unnest(…) v WHERE t.key = v.key AND t.version = v.version - 1` updates fewer
 *   when a row changed since it was loaded. The row lock rules that out; the version guard is what
 *   still holds without it (the no-locks sabotage, an edit by hand): a newer state is never overwritten.
 *
 * The statement is sent at once (Tx.exec pipelines): writes called together share one round trip;
 * await them in call order. They cannot be queued with Tx.write and checked in its onRows: those
 * rows arrive when COMMIT is already on its way behind the writes, so a throw there rejects a
 * transaction that has committed all the same.
 */
export async function writeAllOrRetry<T>(tx: Tx, write: AllRowsWrite<T>): Promise<void> {
  if (write.rows.length === 0) return;
  const written = await tx.exec(write.sql, unnestArrays(write.rows, write.values));
  if (written !== write.rows.length) throw new TransientError(write.shortfall);
}
