import { scopeLabel } from './pause';
import type { StatusReport } from './status';

/** A plain text table: columns padded to their widest cell. */
export function table(head: string[], rows: (string | number | null)[][]): string {
  const cells = [head, ...rows.map((r) => r.map((c) => (c === null ? '?' : String(c))))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function renderStatus(r: StatusReport): string {
  const out: string[] = [];
  const recorded = r.recorded
    ? `recorded in Postgres, ${r.recorded.state}${r.recorded.targetPartitions ? ` → ${r.recorded.targetPartitions}` : ''}`
    : 'not recorded yet: no worker has started';
  out.push(`namespace '${r.namespace}': ${r.partitions} partitions per worker (${recorded})`, '');
  for (const w of r.workers) {
    const members = w.members === null
      ? 'instances unknown (Redis unreachable)'
      : w.members.length === 0
        ? 'no live instance'
        : `${w.members.length} live instance${w.members.length > 1 ? 's' : ''}: ` + w.members.map((m) => `${m.instance} (owns ${m.owned.length}, lease ${seconds(m.leaseLeftMs)})`).join(', ');
    out.push(`${w.service} — ${members}`);
    const rows = w.partitions.map((p) => [p.partition, p.owners.join(',') || '-', p.paused ? 'paused' : (p.active ?? '-'), p.ready, p.unacked, p.consumers, p.redelivered, p.dead]);
    const sum = (k: 'ready' | 'unacked' | 'redelivered' | 'dead') => (w.partitions.some((p) => p[k] === null) ? null : w.partitions.reduce((a, p) => a + p[k]!, 0));
    rows.push(['total', '', '', sum('ready'), sum('unacked'), '', sum('redelivered'), sum('dead')]);
    out.push(table(['partition', 'owner', 'active consumer', 'ready', 'unacked', 'consumers', 'redelivered', 'dead'], rows).replace(/^/gm, '  '));
    out.push(
      w.outbox
        ? `  outbox: ${w.outbox.rows} rows waiting (oldest ${w.outbox.oldestAgeS.toFixed(1)} s), ${w.outbox.parked} parked; relays: ${w.outbox.relays.length > 0 ? w.outbox.relays.map((r) => `${r.holder} (${r.shards.length} shards)`).join(', ') : 'none'}`
        : '  outbox: unknown (Postgres unreachable)',
    );
    for (const p of w.pauses ?? []) out.push(`  paused: ${scopeLabel(p.partition, r.partitions)} by ${p.pausedBy} since ${p.pausedAt}: ${p.reason}`);
    if (w.strayQueues.length > 0) out.push(`  queues of another partition count: ${w.strayQueues.join(', ')}`);
    out.push('');
  }
  if (r.problems.length > 0) out.push('problems:', ...r.problems.map((p) => `  - ${p}`), '');
  return out.join('\n');
}
