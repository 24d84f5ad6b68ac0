import { soakSummaryLines } from './soak-summary';
import type { FloodReport } from './types';

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-';
}

/** The human summary printed on stdout. */
export function summaryText(r: FloodReport): string {
  const lines: string[] = [];
  lines.push('');
  lines.push(`stockflow flood ${r.ok ? 'PASSED' : 'FAILED'}  seed ${r.seed}  run ${r.tag}  namespace ${r.namespace} (${r.mode})`);
  lines.push('');
  const rows: [string, string][] = [
    ['commands', `${fmt(r.commands)} (+ ${fmt(r.setupCommands)} setup)`],
    ['duplicates', `${fmt(r.duplicates)} published, ${fmt(r.duplicatesAbsorbed)} absorbed`],
    ['faults', Object.entries(r.faults).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'],
    ['crashes after commit', `${r.crashesAfterCommit} (worker restarts ${r.restarts})`],
    ['throughput', `${fmt(r.throughput, 1)} commands/s (publishing ${fmt(r.rates.publishedPerSec, 1)}/s, events ${fmt(r.rates.eventsPerSec, 1)}/s)`],
    ['latency publish→first event', `p50 ${fmt(r.latency_ms.p50)} ms, p90 ${fmt(r.latency_ms.p90)} ms, p99 ${fmt(r.latency_ms.p99)} ms, max ${fmt(r.latency_ms.max)} ms`],
    ['events recorded', `${fmt(r.events)} distinct`],
    ['dead letters', fmt(r.deadLetters)],
    ['outbox backlog', `peak ${fmt(r.outbox.peakRows)} rows, ${r.outbox.drainedAfterPublishS === null ? 'not empty at quiescence' : `empty ${fmt(r.outbox.drainedAfterPublishS, 1)} s after the last publish`}`],
    ...r.nodeOutages.map((o): [string, string] => [
      `node down ${new Date(o.at).toISOString().slice(11, 19)}`,
      `${o.node} (${o.how}) back after ${fmt(o.downMs / 1000, 1)} s: ${o.leadersMovedMs >= 0 ? `the ${o.partitionsLed} partition queues it led had new leaders after ${fmt(o.leadersMovedMs / 1000, 1)} s` : `${o.notMoved.length} of the ${o.partitionsLed} partition queues it led had no new leader`}; its ${o.busyLed} busy ones made no progress for at most ${o.busyLed === 0 ? '-' : fmt(o.maxNoProgressMs / 1000, 1)} s (others ${o.othersMaxNoProgressMs < 0 ? '-' : fmt(o.othersMaxNoProgressMs / 1000, 1)} s)`,
    ]),
    ['quiescence', r.quiescence.reached ? `reached after ${fmt(r.quiescence.waitedMs / 1000, 1)} s` : `NOT reached after ${fmt(r.quiescence.waitedMs / 1000, 1)} s: ${r.quiescence.pending.join('; ')}`],
    ['time', `setup ${fmt(r.durations_ms.setup / 1000, 1)} s, publish ${fmt(r.durations_ms.publish / 1000, 1)} s, drain ${fmt(r.durations_ms.drain / 1000, 1)} s, check ${fmt(r.durations_ms.check / 1000, 1)} s, total ${fmt(r.durations_ms.total / 1000, 1)} s`],
  ];
  for (const [k, v] of rows) lines.push(`  ${pad(k, 30)} ${v}`);
  lines.push('');
  lines.push(`  ${pad('invariant', 16)} ${pad('result', 6)} ${pad('checked', 9)} violations`);
  for (const i of r.invariants) lines.push(`  ${pad(i.name, 16)} ${pad(i.ok ? 'ok' : 'FAIL', 6)} ${pad(fmt(i.checked), 9)} ${fmt(i.violations)}`);
  for (const i of r.invariants.filter((x) => !x.ok)) {
    lines.push('');
    lines.push(`  ${i.title}`);
    for (const e of i.examples) lines.push(`    - ${e}`);
    if (i.violations > i.examples.length) lines.push(`    … and ${i.violations - i.examples.length} more`);
  }
  lines.push(...soakSummaryLines(r.soak));
  if (!r.ok) {
    lines.push('');
    lines.push(`  reproduce: ${r.reproduce}`);
    lines.push(`  worker logs: ${r.runDir}`);
  }
  lines.push('');
  return lines.join('\n');
}
