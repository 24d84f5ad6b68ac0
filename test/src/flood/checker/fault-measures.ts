import { result, type CheckContext, type InvariantResult } from './types';

/** Slack beyond LEASE_TTL_MS for a lead to move: the next ask of a follower (1 s), a poll, a busy host. */
const FAILOVER_SLACK_MS = 5_000;

/** 9. Every forged-webhooks storm was refused: no forged, tampered, unsigned or replayed webhook accepted. */
export function checkForgedWebhooks(ctx: CheckContext): InvariantResult {
  const storms = (ctx.faults ?? []).filter((f) => f.ok && f.kind === 'forged-webhooks');
  const offenders = storms.filter((f) => (f.measure?.accepted ?? 0) > 0).map((f) => `storm at ${new Date(f.t).toISOString()}: ${f.measure?.accepted} of ${f.measure?.sent} forged webhooks accepted by ${f.target}`);
  return result('forged-webhooks', offenders, storms.reduce((s, f) => s + (f.measure?.sent ?? 0), 0));
}

/** 10. Every paused relay leader (leader-stop) lost the lead to another instance within LEASE_TTL_MS and FAILOVER_SLACK_MS. */
export function checkRelayFailover(ctx: CheckContext): InvariantResult {
  const stops = (ctx.faults ?? []).filter((f) => f.ok && f.kind === 'leader-stop');
  const offenders: string[] = [];
  for (const f of stops) {
    const ms = f.measure?.failoverMs ?? -1;
    const bound = (f.measure?.leaseTtlMs ?? 0) + FAILOVER_SLACK_MS;
    if (ms < 0 || ms > bound) offenders.push(`${f.target} paused at ${new Date(f.t).toISOString()}: ${ms < 0 ? 'nobody else took the lead while it was stopped' : `the lead moved after ${ms} ms`} (bound ${bound} ms)`);
  }
  return result('relay-failover', offenders, stops.length);
}
