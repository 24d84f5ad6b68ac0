import { forgedWebhookPrefix, result, type CheckContext, type InvariantResult } from './types';

/** Slack beyond LEASE_TTL_MS for a lead to move: the next ask of a follower (1 s), a poll, a busy host. */
const FAILOVER_SLACK_MS = 5_000;

/**
 * 9. Every forged-webhooks storm was refused: the gateway answered none of its webhooks with a
 * 2xx, and none of them (ids FORGED_WEBHOOK_PREFIX) reached the payment worker's inbox or a
 * dead-letter queue, which also catches one whose answer was lost (a timeout) while it went in.
 */
export async function checkForgedWebhooks(ctx: CheckContext): Promise<InvariantResult> {
  const storms = (ctx.faults ?? []).filter((f) => f.ok && f.kind === 'forged-webhooks');
  const offenders = storms.filter((f) => (f.measure?.accepted ?? 0) > 0).map((f) => `storm at ${new Date(f.t).toISOString()}: ${f.measure?.accepted} of ${f.measure?.sent} forged webhooks accepted by ${f.target}`);
  const prefix = forgedWebhookPrefix(ctx.tag);
  const inbox = await ctx.db.query<{ n: string }>(`SELECT count(*) AS n FROM payments.inbox WHERE message_id LIKE $1 || '%'`, [prefix]);
  const reached = Number(inbox[0]?.n ?? 0);
  if (reached > 0) offenders.push(`${reached} forged webhooks were applied by the payment worker (inbox rows ${prefix}*)`);
  const dead = ctx.deadLetters.filter((d) => d.messageId?.startsWith(prefix));
  if (dead.length > 0) offenders.push(`${dead.length} forged webhooks were published into the system and dead-lettered there (${[...new Set(dead.map((d) => d.reason ?? '(none)'))].join(', ')})`);
  return result('forged-webhooks', offenders, storms.reduce((s, f) => s + (f.measure?.sent ?? 0), 0));
}

/** 10. Every paused relay (leader-stop) had all its shards taken over by other instances within LEASE_TTL_MS and FAILOVER_SLACK_MS. */
export function checkRelayFailover(ctx: CheckContext): InvariantResult {
  const stops = (ctx.faults ?? []).filter((f) => f.ok && f.kind === 'leader-stop');
  const offenders: string[] = [];
  for (const f of stops) {
    const ms = f.measure?.failoverMs ?? -1;
    const bound = (f.measure?.leaseTtlMs ?? 0) + FAILOVER_SLACK_MS;
    if (ms < 0 || ms > bound) offenders.push(`${f.target} paused at ${new Date(f.t).toISOString()}: ${ms < 0 ? 'its shards were not all taken over while it was stopped' : `its shards moved after ${ms} ms`} (bound ${bound} ms)`);
  }
  return result('relay-failover', offenders, stops.length);
}

/** 11. Every pause fault: the instances let go of the paused queues in time, and no inbox row of them was written while paused. */
export function checkPauseHeld(ctx: CheckContext): InvariantResult {
  const pauses = (ctx.faults ?? []).filter((f) => f.ok && f.kind === 'pause');
  const offenders: string[] = [];
  for (const f of pauses) {
    const at = new Date(f.t).toISOString();
    if ((f.measure?.letGoMs ?? -1) < 0) offenders.push(`${f.target} paused at ${at}: still consumed when the wait ran out`);
    const applied = f.measure?.appliedWhilePaused ?? 0;
    if (applied > 0) offenders.push(`${f.target} paused at ${at}: ${applied} messages of it applied while paused`);
  }
  return result('pause-held', offenders, pauses.length);
}

/** What the report holds up the node outages' no-progress times against. */
export const NODE_FAILOVER_TARGET_MS = 10_000;

/**
 * 12. Every node outage: each partition queue the node led got a leader on another node while
 * it was down (a queue without members elsewhere does not, and waits for it), and each busy
 * one moved on again afterwards. How long they stood still is reported against
 * NODE_FAILOVER_TARGET_MS: on a saturated host that time also holds the whole run's stalls.
 */
export function checkNodeFailover(ctx: CheckContext): InvariantResult {
  const outages = (ctx.faults ?? []).filter((f) => f.ok && (f.kind === 'node' || f.kind === 'rolling-restart')).flatMap((f) => f.outages ?? []);
  const offenders: string[] = [];
  for (const o of outages) {
    const at = new Date(o.at).toISOString();
    if (o.notMoved.length > 0) offenders.push(`${o.node} down at ${at}: ${o.notMoved.join(', ')} had no leader on another node while it was down (${o.how}, back after ${o.downMs} ms)`);
    if (o.stalled.length > 0) offenders.push(`${o.node} down at ${at}: ${o.stalled.join(', ')} did not move again (${o.how}, back after ${o.downMs} ms)`);
  }
  const times = outages.filter((o) => o.busyLed > 0).map((o) => o.maxNoProgressMs);
  const longest = times.length > 0 ? Math.max(...times) : 0;
  return result('node-failover', offenders, outages.reduce((n, o) => n + o.partitionsLed, 0), { outages: outages.length, longestNoProgressMs: longest, targetMs: NODE_FAILOVER_TARGET_MS, withinTarget: times.filter((t) => t < NODE_FAILOVER_TARGET_MS).length });
}
