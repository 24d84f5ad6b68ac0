import { result, type CheckContext, type InvariantResult } from './types';

/**
 * 7. Ids reused for other messages (the id-reuse fault: a command's id with another payload, an
 * event's id on a command) are refused, not absorbed as duplicates: each is in a dead-letter
 * queue with reason id_reused, and the id's first message took effect once, as published (a
 * reused receipt's id has ledger rows of the original quantity only; a reused event id has no
 * CancelOrder transition).
 */
export async function checkIdReuse(ctx: CheckContext): Promise<InvariantResult> {
  const reuses = ctx.history.adversarial.filter((a) => a.kind === 'reuse');
  const offenders: string[] = [];
  const dead = new Map<string, string[]>();
  for (const d of ctx.deadLetters) if (d.messageId) dead.set(d.messageId, [...(dead.get(d.messageId) ?? []), d.reason ?? '(none)']);
  for (const r of reuses) {
    const reasons = dead.get(r.id) ?? [];
    if (!reasons.includes('id_reused')) offenders.push(`${r.id} reused as ${r.type}: not dead-lettered as id_reused (dead letters of that id: ${reasons.join(', ') || 'none'})`);
  }
  const receipts = [...new Set(reuses.filter((r) => r.type === 'ReceiveStock').map((r) => r.id))];
  if (receipts.length > 0) {
    const rows = await ctx.db.query<{ message_id: string; delta: string; n: string }>(
      `SELECT message_id, sum(delta_on_hand) AS delta, count(*) AS n FROM inventory.ledger WHERE message_id = ANY($1::text[]) GROUP BY message_id`,
      [receipts],
    );
    const byId = new Map(rows.map((r) => [r.message_id, r]));
    for (const id of receipts) {
      const original = ctx.history.original(id)?.payload as { quantity?: number } | undefined;
      const row = byId.get(id);
      if (!row || Number(row.n) !== 1 || Number(row.delta) !== original?.quantity) offenders.push(`${id}: a receipt of ${original?.quantity} whose id was reused, applied as ${row ? `${row.n} ledger row(s) of ${row.delta}` : 'nothing'}`);
    }
  }
  const events = [...new Set(reuses.filter((r) => r.type === 'CancelOrder').map((r) => r.id))];
  if (events.length > 0) {
    const rows = await ctx.db.query<{ message_id: string }>(`SELECT message_id FROM orders.order_transition WHERE message_id = ANY($1::text[]) AND message_type = 'CancelOrder'`, [events]);
    for (const r of rows) offenders.push(`${r.message_id}: an event id reused for a CancelOrder cancelled an order`);
  }
  return result('id-reuse', offenders, reuses.length);
}
