import { result, type CheckContext, type InvariantResult } from './types';

interface Row {
  product_id: string;
  warehouse_id: string;
  on_hand: number | null;
  reserved: number | null;
  ledger_on_hand: string | null;
  ledger_reserved: string | null;
  held: string | null;
}

/**
 * 1. Per key, from the database alone: the stock row agrees with its own history (Σ ledger
 * deltas of on_hand and of reserved), stays within bounds, and `reserved` is exactly what the
 * held reservations name for it. A lost update (two transactions writing from the same read)
 * leaves on_hand ≠ Σ ledger; a reservation changed without its stock row, reserved ≠ Σ held.
 */
export async function checkStockLevels(ctx: CheckContext): Promise<InvariantResult> {
  const rows = await ctx.db.query<Row>(
    `WITH s AS (SELECT product_id, warehouse_id, on_hand, reserved FROM inventory.stock WHERE product_id LIKE $1 || '%'),
          l AS (SELECT product_id, warehouse_id, sum(delta_on_hand) AS on_hand, sum(delta_reserved) AS reserved
                FROM inventory.ledger WHERE product_id LIKE $1 || '%' GROUP BY 1, 2),
          h AS (SELECT x->>'productId' AS product_id, x->>'warehouseId' AS warehouse_id, sum((x->>'quantity')::int) AS held
                FROM inventory.reservation r CROSS JOIN LATERAL jsonb_array_elements(r.lines) x
                WHERE r.status = 'held' AND x->>'productId' LIKE $1 || '%' GROUP BY 1, 2)
     SELECT product_id, warehouse_id, s.on_hand, s.reserved, l.on_hand AS ledger_on_hand, l.reserved AS ledger_reserved, h.held
     FROM s FULL JOIN l USING (product_id, warehouse_id) FULL JOIN h USING (product_id, warehouse_id)
     ORDER BY product_id, warehouse_id`,
    [ctx.prefix.product],
  );
  const offenders: string[] = [];
  for (const r of rows) {
    const key = `${r.product_id}:${r.warehouse_id}`;
    const problems: string[] = [];
    const ledgerOnHand = Number(r.ledger_on_hand ?? 0);
    const ledgerReserved = Number(r.ledger_reserved ?? 0);
    const held = Number(r.held ?? 0);
    if (r.on_hand === null || r.reserved === null) {
      problems.push(`no stock row, yet Σ ledger on_hand=${ledgerOnHand} reserved=${ledgerReserved}, held=${held}`);
    } else {
      if (r.on_hand !== ledgerOnHand) problems.push(`on_hand=${r.on_hand} ≠ Σ ledger ${ledgerOnHand}`);
      if (r.reserved !== ledgerReserved) problems.push(`reserved=${r.reserved} ≠ Σ ledger ${ledgerReserved}`);
      if (r.on_hand < 0) problems.push(`on_hand=${r.on_hand} < 0`);
      if (r.reserved < 0) problems.push(`reserved=${r.reserved} < 0`);
      if (r.reserved > r.on_hand) problems.push(`reserved=${r.reserved} > on_hand=${r.on_hand}`);
      if (r.reserved !== held) problems.push(`reserved=${r.reserved} ≠ Σ held reservation lines ${held}`);
    }
    if (problems.length > 0) offenders.push(`${key}: ${problems.join('; ')}`);
  }
  return result('stock-levels', offenders, rows.length);
}
