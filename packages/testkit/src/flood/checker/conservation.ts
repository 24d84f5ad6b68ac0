import { result, type CheckContext, type InvariantResult } from './types';

interface Totals {
  initial: number;
  receipts: number;
  shipments: number;
  commits: number;
  adjustments: number;
  transfers: number;
}

/**
 * 2. Conservation, computed from what the system *said* it did (the events the tap recorded,
 * each emitted in the transaction of its effect) against what the database holds:
 *   Σ on_hand = initial + receipts − shipments − commits ± adjustments   (transfers net 0)
 * The same sum per key (with transfers out and in) names the keys where they part. It cannot
 * be computed from the ledger: the ledger is what on_hand is checked against in (1), so a
 * handler that writes a wrong ledger row and a matching on_hand would pass both. Events are an
 * independent witness: a double effect, a lost update, an effect without its event, or an
 * event without its effect each leave the equation unbalanced.
 */
export async function checkConservation(ctx: CheckContext): Promise<InvariantResult> {
  const inScope = (key: string) => key.startsWith(ctx.prefix.product);
  const expected = new Map<string, number>();
  const add = (key: string, qty: number) => {
    if (inScope(key)) expected.set(key, (expected.get(key) ?? 0) + qty);
  };
  const totals: Totals = { initial: 0, receipts: 0, shipments: 0, commits: 0, adjustments: 0, transfers: 0 };
  for (const e of ctx.history.events.values()) {
    const f = e.effect;
    if (!f) continue;
    switch (f.kind) {
      case 'received':
        if (!inScope(f.key)) break;
        add(f.key, f.qty);
        if (e.cause !== undefined && ctx.history.original(e.cause)?.setup) totals.initial += f.qty;
        else totals.receipts += f.qty;
        break;
      case 'shipped':
        if (!inScope(f.key)) break;
        add(f.key, -f.qty);
        totals.shipments += f.qty;
        break;
      case 'adjusted':
        if (!inScope(f.key)) break;
        add(f.key, f.qty);
        totals.adjustments += f.qty;
        break;
      case 'transferred':
        add(f.from, -f.qty);
        add(f.to, f.qty);
        if (inScope(f.from)) totals.transfers += f.qty;
        break;
      case 'committed':
        for (const l of f.lines) {
          if (!inScope(l.key)) continue;
          add(l.key, -l.qty);
          totals.commits += l.qty;
        }
        break;
    }
  }
  const rows = await ctx.db.query<{ key: string; on_hand: number }>(
    `SELECT product_id || ':' || warehouse_id AS key, on_hand FROM inventory.stock WHERE product_id LIKE $1 || '%'`,
    [ctx.prefix.product],
  );
  const actual = new Map(rows.map((r) => [r.key, r.on_hand]));
  const keys = [...new Set([...expected.keys(), ...actual.keys()])].sort();
  const offenders: string[] = [];
  for (const k of keys) {
    const want = expected.get(k) ?? 0;
    const have = actual.get(k) ?? 0;
    if (want !== have) offenders.push(`${k}: on_hand=${have}, events say ${want} (${have > want ? '+' : ''}${have - want})`);
  }
  const expectedTotal = totals.initial + totals.receipts - totals.shipments - totals.commits + totals.adjustments;
  const actualTotal = [...actual.values()].reduce((s, n) => s + n, 0);
  if (expectedTotal !== actualTotal) offenders.unshift(`Σ on_hand=${actualTotal} ≠ ${totals.initial} + ${totals.receipts} − ${totals.shipments} − ${totals.commits} ${totals.adjustments >= 0 ? '+' : '−'} ${Math.abs(totals.adjustments)} = ${expectedTotal}`);
  return result('conservation', offenders, keys.length, { ...totals, expectedTotal, actualTotal });
}
