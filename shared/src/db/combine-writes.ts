export interface Statement {
  sql: string;
  params: unknown[];
  /** Wants the statement's RETURNING rows (delivered when the queued writes are sent). */
  onRows?: (rows: Record<string, unknown>[]) => void;
}

export interface Folded {
  sql: string;
  params: unknown[];
  /** Column of the folded statement's single row holding each onRows statement's rows (json). */
  returning: { column: string; onRows: (rows: Record<string, unknown>[]) => void }[];
}

const WRITE = /^\s*(INSERT|UPDATE|DELETE)\b/i;
const SELECT = /^\s*SELECT\b/i;

/**
 * Folds statements whose results nobody reads into ONE statement: every INSERT/UPDATE/DELETE
 * becomes a data-modifying CTE, and at most one SELECT (e.g. pg_notify) is the main query.
 * Postgres runs every data-modifying CTE exactly once, whether referenced or not, so this is the
 * same work in one round trip instead of one per statement. A write that wants its RETURNING
 * rows gets them back as a json column of the one result row. The parts share one snapshot and
 * do not see each other's changes: callers must only fold writes that touch disjoint rows.
 * Returns undefined for a list that cannot be folded (the caller sends each on its own).
 */
export function combineWrites(stmts: Statement[]): Folded | undefined {
  const selects = stmts.filter((s) => SELECT.test(s.sql));
  if (selects.length > 1 || stmts.some((s) => (!WRITE.test(s.sql) && !SELECT.test(s.sql)) || s.sql.includes('$$'))) return undefined;
  if (selects.some((s) => s.onRows)) return undefined;
  const params: unknown[] = [];
  const renumber = (s: Statement) => {
    const offset = params.length;
    params.push(...s.params);
    // Our statements carry parameters only as $n (no dollar-quoted text, checked above).
    return s.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
  };
  const writes = stmts.filter((s) => !SELECT.test(s.sql));
  const ctes = writes.map((s, i) => `w${i} AS (${renumber(s)})`);
  const returning = writes.flatMap((s, i) => (s.onRows ? [{ column: `w${i}`, onRows: s.onRows }] : []));
  const columns = returning.map((r) => `(SELECT coalesce(json_agg(${r.column}), '[]') FROM ${r.column}) AS ${r.column}`);
  const main = selects[0]
    ? `SELECT ${[...columns, 'x.*'].join(', ')} FROM (${renumber(selects[0])}) x`
    : `SELECT ${columns.length > 0 ? columns.join(', ') : '1'}`;
  return { sql: `WITH ${ctes.join(',\n')}\n${main}`, params, returning };
}
