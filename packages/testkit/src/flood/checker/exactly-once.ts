import { contracts, type CommandType } from '@stockflow/shared';
import { CONSUMER, result, type CheckContext, type InvariantResult } from './types';

interface EffectGroup {
  message_id: string;
  txs: string;
  rows: string;
  repeated: boolean;
}

/**
 * 3. Exactly-once, from the database's own records of effects:
 * - every command id has its inbox row under the consumer it was sent to, and only there;
 * - a message's effects were written by one transaction (one xmin for all its ledger rows and
 *   order transitions) and none twice (one row per key and kind, one transition per target
 *   status): a second application — a duplicate the inbox failed to stop, a redelivery after
 *   commit — always shows up as a second transaction or a repeated row;
 * - every effect belongs to a claimed message (its id is in that schema's inbox).
 * Duplicate publishes share their original's id, so "duplicates have no effect" is the same
 * statement as "one set of effects per id".
 */
export async function checkExactlyOnce(ctx: CheckContext): Promise<InvariantResult> {
  const offenders: string[] = [];
  let checked = 0;

  // Inbox rows of the flood's commands, wherever they are.
  const claims = new Map<string, string[]>();
  for (const schema of ['inventory', 'orders', 'payments']) {
    const rows = await ctx.db.query<{ message_id: string; consumer: string }>(`SELECT message_id, consumer FROM "${schema}".inbox WHERE message_id LIKE $1 || '%'`, [ctx.prefix.command]);
    for (const r of rows) claims.set(r.message_id, [...(claims.get(r.message_id) ?? []), r.consumer]);
  }
  for (const c of ctx.history.commands()) {
    checked++;
    const consumers = claims.get(c.id) ?? [];
    const want = CONSUMER[contracts[c.type as CommandType].worker];
    if (consumers.length > 1 || (consumers.length === 1 && consumers[0] !== want)) offenders.push(`${c.id} (${c.type}): inbox rows under ${consumers.join(', ')}; expected one under ${want}`);
  }

  const ledger = await ctx.db.query<EffectGroup>(
    `SELECT message_id, count(DISTINCT xmin::text) AS txs, count(*) AS rows, bool_or(repeated) AS repeated FROM (
       SELECT message_id, xmin, count(*) OVER (PARTITION BY message_id, product_id, warehouse_id, kind) > 1 AS repeated
       FROM inventory.ledger WHERE product_id LIKE $1 || '%') x
     GROUP BY message_id HAVING count(DISTINCT xmin::text) > 1 OR bool_or(repeated)`,
    [ctx.prefix.product],
  );
  for (const g of ledger) offenders.push(`${g.message_id}: ${g.rows} ledger rows from ${g.txs} transaction(s)${g.repeated ? ', the same key and kind repeated' : ''} (applied more than once)`);

  const transitions = await ctx.db.query<EffectGroup>(
    `SELECT message_id, count(DISTINCT xmin::text) AS txs, count(*) AS rows, bool_or(repeated) AS repeated FROM (
       SELECT message_id, xmin, count(*) OVER (PARTITION BY message_id, order_id, to_status) > 1 AS repeated
       FROM orders.order_transition WHERE order_id LIKE $1 || '%') x
     GROUP BY message_id HAVING count(DISTINCT xmin::text) > 1 OR bool_or(repeated)`,
    [ctx.prefix.order],
  );
  for (const g of transitions) offenders.push(`${g.message_id}: ${g.rows} order transitions from ${g.txs} transaction(s)${g.repeated ? ', the same transition repeated' : ''} (applied more than once)`);

  const unclaimed = await ctx.db.query<{ place: string; message_id: string; n: string }>(
    `SELECT 'inventory.ledger' AS place, message_id, count(*) AS n FROM inventory.ledger l
       WHERE product_id LIKE $1 || '%' AND NOT EXISTS (SELECT 1 FROM inventory.inbox i WHERE i.message_id = l.message_id AND i.consumer = $3)
       GROUP BY message_id
     UNION ALL
     SELECT 'orders.order_transition', message_id, count(*) FROM orders.order_transition t
       WHERE order_id LIKE $2 || '%' AND NOT EXISTS (SELECT 1 FROM orders.inbox i WHERE i.message_id = t.message_id AND i.consumer = $4)
       GROUP BY message_id`,
    [ctx.prefix.product, ctx.prefix.order, CONSUMER.inventory, CONSUMER.orders],
  );
  for (const u of unclaimed) offenders.push(`${u.message_id}: ${u.n} rows in ${u.place} but no inbox claim (an effect nobody deduplicated)`);

  const effectRows = await ctx.db.query<{ n: string }>(`SELECT count(DISTINCT message_id) AS n FROM inventory.ledger WHERE product_id LIKE $1 || '%'`, [ctx.prefix.product]);
  checked += Number(effectRows[0]?.n ?? 0);
  return result('exactly-once', offenders, checked, { duplicatePublishes: ctx.history.publishes.filter((p) => p.dup).length });
}
