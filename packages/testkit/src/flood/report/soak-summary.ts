import type { SoakReport } from './soak';

const n = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-');

/** The soak lines of the stdout summary: leak verdicts first, then the figures behind them. */
export function soakSummaryLines(s: SoakReport): string[] {
  const lines: string[] = ['', s.judged ? `  soak trends: ${s.ok ? 'no leak' : 'LEAK'}` : '  soak trends: not judged (only --duration runs are; a bounded flood grows its backlog by design)'];
  const judged = s.trends.filter((t) => t.judged);
  for (const t of judged) lines.push(`    ${t.ok ? 'ok  ' : 'FAIL'} ${t.name}: ${t.detail}`);
  const skipped = s.trends.length - judged.length;
  if (skipped > 0) lines.push(`    ${skipped} series too short to judge after warm-up (${n(s.rules.warmupMs / 1000)} s): ${s.trends.filter((t) => !t.judged).map((t) => t.name).join(', ')}`);
  const pad = (k: string) => `  ${k.padEnd(30)} `;
  const rss = Object.entries(s.rss_mb).map(([k, v]) => `${k} ${n(v.start)} → ${n(v.end)} (peak ${n(v.peak)})`).join(', ');
  if (rss) lines.push(`${pad('worker RSS MB (max per kind)')}${rss}`);
  lines.push(`${pad('postgres')}connections max ${n(s.postgres.maxConnections)}, lock waits max ${n(s.postgres.maxLockWaits)}, ungranted locks max ${n(s.postgres.maxLocksUngranted)}`);
  lines.push(`${pad('inbox at the end')}${Object.keys(s.inbox.rows).map((k) => `${k} ${n(s.inbox.rows[k]!)} rows (${n(s.inbox.mb[k]!, 1)} MB)`).join(', ')}`);
  lines.push(`${pad('backlog')}final ${n(s.backlog.final)}, peak ${n(s.backlog.peak)}, second-half slope ${n(s.backlog.slopePerMin, 1)}/min`);
  lines.push(`${pad('deepest partition')}${Object.entries(s.partitions).map(([k, p]) => `${k} p${String(p.partition).padStart(2, '0')} (${n(p.maxDepth)})`).join(', ')}`);
  const p99 = s.windows.map((w) => w.p99_ms).filter(Number.isFinite);
  if (p99.length > 0) lines.push(`${pad('p99 per sample window')}min ${n(Math.min(...p99))} ms, max ${n(Math.max(...p99))} ms`);
  if (s.reads) lines.push(`${pad('stock queries (read model)')}${n(s.reads.count)} (${n(s.reads.perSec, 1)}/s), p50 ${n(s.reads.p50_ms, 1)} ms, p99 ${n(s.reads.p99_ms, 1)} ms, errors ${n(s.reads.errors)}`);
  return lines;
}
