import { contracts, type CommandType } from '@stockflow/shared';
import { CONSUMER, result, type CheckContext, type InvariantResult } from './types';

/**
 * 4. Nothing lost: every command the broker confirmed (the original or any copy of it) was
 * claimed in its worker's inbox or sits in a dead-letter queue. A command that is in neither
 * was dropped somewhere between the broker's confirm and a commit: acked without being
 * applied, or purged, or routed nowhere.
 */
export async function checkNothingLost(ctx: CheckContext): Promise<InvariantResult> {
  const confirmed = new Set(ctx.history.publishes.filter((p) => p.confirmedAt !== undefined).map((p) => p.id));
  const claimed = new Set<string>();
  for (const schema of ['inventory', 'orders', 'payments']) {
    const rows = await ctx.db.query<{ message_id: string; consumer: string }>(`SELECT message_id, consumer FROM "${schema}".inbox WHERE message_id LIKE $1 || '%'`, [ctx.prefix.command]);
    for (const r of rows) claimed.add(`${r.consumer}/${r.message_id}`);
  }
  const dead = new Set(ctx.deadLetters.map((d) => d.messageId).filter((id): id is string => id !== undefined));
  const offenders: string[] = [];
  let unconfirmed = 0;
  let deadLettered = 0;
  for (const c of ctx.history.commands()) {
    if (!confirmed.has(c.id)) {
      unconfirmed++;
      continue;
    }
    const consumer = CONSUMER[contracts[c.type as CommandType].worker];
    if (claimed.has(`${consumer}/${c.id}`)) continue;
    if (dead.has(c.id)) {
      deadLettered++;
      continue;
    }
    offenders.push(`${c.id} (${c.type}, key ${c.key}, seq ${c.sequence}): confirmed by the broker, not in ${consumer}'s inbox nor in a dead-letter queue`);
  }
  return result('nothing-lost', offenders, confirmed.size, { deadLettered, neverConfirmed: unconfirmed });
}
