import type { RowLevels } from '@stockflow/shared';
import type { TappedEvent, TestEnv } from '../support';

export interface StockLevels {
  on_hand: number;
  reserved: number;
  version: number;
}

export async function stockOf(env: TestEnv, productId: string, warehouseId: string): Promise<StockLevels | undefined> {
  const [row] = await env.query<StockLevels>('SELECT on_hand, reserved, version FROM inventory.stock WHERE product_id = $1 AND warehouse_id = $2', [productId, warehouseId]);
  return row;
}

/**
 * Invariant 1 of the architecture, per product+warehouse, from three witnesses: the stock row,
 * the ledger (on_hand = Σ delta_on_hand, reserved = Σ delta_reserved) and the held reservations
 * (reserved = Σ held lines); plus on_hand ≥ 0 and 0 ≤ reserved ≤ on_hand. Returns the rows that
 * break any of them (expected: none), and ledger keys that have no stock row at all.
 */
export async function invariantViolations(env: TestEnv): Promise<Record<string, unknown>[]> {
  return env.query(`
    WITH l AS (
      SELECT product_id, warehouse_id, sum(delta_on_hand)::int AS on_hand, sum(delta_reserved)::int AS reserved
      FROM inventory.ledger GROUP BY 1, 2),
    h AS (
      SELECT x->>'productId' AS product_id, x->>'warehouseId' AS warehouse_id, sum((x->>'quantity')::int)::int AS held
      FROM inventory.reservation r CROSS JOIN jsonb_array_elements(r.lines) x WHERE r.status = 'held' GROUP BY 1, 2)
    SELECT coalesce(s.product_id, l.product_id) AS product_id, coalesce(s.warehouse_id, l.warehouse_id) AS warehouse_id,
           s.on_hand, s.reserved, l.on_hand AS ledger_on_hand, l.reserved AS ledger_reserved, coalesce(h.held, 0) AS held
    FROM inventory.stock s
    FULL JOIN l ON l.product_id = s.product_id AND l.warehouse_id = s.warehouse_id
    LEFT JOIN h ON h.product_id = coalesce(s.product_id, l.product_id) AND h.warehouse_id = coalesce(s.warehouse_id, l.warehouse_id)
    WHERE s.product_id IS NULL
       OR s.on_hand <> coalesce(l.on_hand, 0) OR s.reserved <> coalesce(l.reserved, 0) OR s.reserved <> coalesce(h.held, 0)
       OR s.on_hand < 0 OR s.reserved < 0 OR s.reserved > s.on_hand`);
}

/** Σ on_hand and Σ reserved of one product over every warehouse. */
export async function productTotals(env: TestEnv, productId: string): Promise<{ on_hand: number; reserved: number }> {
  const [row] = await env.query<{ on_hand: number; reserved: number }>(
    'SELECT coalesce(sum(on_hand), 0)::int AS on_hand, coalesce(sum(reserved), 0)::int AS reserved FROM inventory.stock WHERE product_id = $1',
    [productId],
  );
  return row!;
}

/** Deadlocks Postgres detected in this test's database (each test file has its own). */
export async function deadlocksDetected(env: TestEnv): Promise<number> {
  const [row] = await env.query<{ deadlocks: string }>('SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()');
  return Number(row!.deadlocks);
}

/**
 * Every effect on a stock row bumps its version, and the event that reports the effect carries
 * the row's new levels in `levels`, so the `levels` entries of one row over all events (distinct
 * ones) are its complete history: versions 1..V, each once, and every state in it valid. An
 * event that changed a row but left it out of `levels` shows as a missing version. Returns what
 * is wrong with the trail (expected: nothing) and the last state.
 */
export function levelsTrail(events: TappedEvent[], productId: string, warehouseId: string): { problems: string[]; last: RowLevels | undefined } {
  const trail = events
    .flatMap((e) => (Array.isArray(e.payload.levels) ? (e.payload.levels as RowLevels[]) : []))
    .filter((l) => l.productId === productId && l.warehouseId === warehouseId)
    .sort((a, b) => a.version - b.version);
  const problems: string[] = [];
  trail.forEach((s, i) => {
    if (s.version !== i + 1) problems.push(`version ${s.version} at position ${i + 1}`);
    if (s.onHand < 0 || s.reserved < 0 || s.reserved > s.onHand || s.available !== s.onHand - s.reserved) problems.push(`invalid state ${JSON.stringify(s)}`);
  });
  return { problems, last: trail[trail.length - 1] };
}
