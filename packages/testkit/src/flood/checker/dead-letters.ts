import { result, type CheckContext, type InvariantResult } from './types';

/**
 * 8. Every dead letter and parked row is accounted for:
 * - each message the flood sent malformed on purpose (big-headers) is in a dead-letter queue
 *   with its own reason (invalid_schema), not a delivery-limit death or nowhere: the worker
 *   could dead-letter it although its headers nearly filled 64 KiB;
 * - every dead letter has a reason (x-stockflow-reason, or the broker's delivery limit);
 * - no outbox row is left parked at quiescence: an event parked is an event nobody got.
 */
export async function checkDeadLetters(ctx: CheckContext): Promise<InvariantResult> {
  const offenders: string[] = [];
  const reasons = new Map<string, string[]>();
  for (const d of ctx.deadLetters) if (d.messageId) reasons.set(d.messageId, [...(reasons.get(d.messageId) ?? []), d.reason ?? '(none)']);
  const bad = ctx.history.adversarial.filter((a) => a.kind === 'bad');
  for (const b of bad) {
    const got = reasons.get(b.id) ?? [];
    if (!got.includes(b.expect)) offenders.push(`${b.id} (malformed ${b.type}): expected in a dead queue as ${b.expect}, found ${got.join(', ') || 'nowhere'}`);
  }
  for (const d of ctx.deadLetters) if (!d.reason) offenders.push(`${d.messageId ?? '(no id)'} in ${d.queue}: dead-lettered without a reason`);
  let parked = 0;
  for (const schema of ['inventory', 'orders', 'payments']) {
    const rows = await ctx.db.query<{ message_id: string; type: string; reason: string }>(`SELECT message_id, type, reason FROM "${schema}".outbox_parked ORDER BY id`);
    parked += rows.length;
    for (const r of rows) offenders.push(`${schema}.outbox_parked: ${r.message_id} (${r.type}) still parked: ${r.reason}`);
  }
  const byReason: Record<string, number> = {};
  for (const d of ctx.deadLetters) byReason[d.reason ?? '(none)'] = (byReason[d.reason ?? '(none)'] ?? 0) + 1;
  return result('dead-letters', offenders, ctx.deadLetters.length + bad.length, { ...byReason, parked });
}
