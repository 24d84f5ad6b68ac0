import type { FaultKind } from '../faults/plan';
import { soakHtml } from './soak-html';
import { logHistogram, perBucket } from './stats';
import { barChart, esc, lineChart, type Marker, type Series } from './svg';
import type { FloodReport, ReportSeries } from './types';

const FAULT_COLORS: Record<FaultKind, string> = {
  kill: '#cc3311',
  conn: '#ee7733',
  pg: '#009988',
  redis: '#aa3377',
  stop: '#0077bb',
  broker: '#000000',
  'publisher-restart': '#33bbee',
  'leader-stop': '#0044aa',
  unroutable: '#bbbb00',
  'forged-webhooks': '#882255',
  'id-reuse': '#117733',
  'big-headers': '#999933',
  pause: '#66ccee',
  node: '#ee3377',
  'rolling-restart': '#bb5566',
};

/** What a reader needs first: did it hold, and if not, exactly what broke. */
export function verdictLine(r: FloodReport): string {
  const failed = r.invariants.filter((i) => !i.ok);
  const held = `${r.invariants.length - failed.length} of ${r.invariants.length} invariants held`;
  const why = [
    ...failed.map((i) => `${i.name} failed (${i.violations} violation${i.violations === 1 ? '' : 's'})`),
    ...(r.quiescence.reached ? [] : [`quiescence not reached (${r.quiescence.pending.join('; ')})`]),
    ...(r.soak.ok ? [] : ['a soak trend showed a leak']),
  ];
  return r.ok ? `Every invariant held: ${held}, over ${r.commands} commands with faults ${Object.entries(r.faults).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}.` : `${why.join('; ')}. ${held}.`;
}

/**
 * A self-contained page: inline CSS and SVG, no scripts, nothing fetched. It opens with the
 * verdict and the invariant table; the run's figures, charts and fault log follow.
 */
export function htmlReport(r: FloodReport, s: ReportSeries): string {
  const sec = (t: number) => (t - s.start) / 1000;
  const markers: Marker[] = r.faultLog.filter((f) => f.ok).map((f) => ({ x: sec(f.t), label: `${f.kind}: ${f.target} ${f.detail}`, color: FAULT_COLORS[f.kind] }));
  const width = 1000;
  const end = Math.max(s.end, s.start + 1000);
  const published = perBucket(s.publishTimes, s.start, end, width);
  const applied = perBucket(s.effectTimes, s.start, end, width);
  const throughput: Series[] = [
    { name: 'published / s', color: '#bbbbbb', points: published.map((n, i) => [i, n]) },
    { name: 'applied / s (first event seen)', color: '#4477aa', points: applied.map((n, i) => [i, n]) },
  ];
  const depth: Series[] = [
    { name: 'ready in partition queues', color: '#4477aa', points: s.samples.filter((x) => x.values.depth !== undefined).map((x) => [sec(x.t), x.values.depth!]) },
    { name: 'outbox rows', color: '#228833', points: s.samples.filter((x) => x.values.outbox !== undefined).map((x) => [sec(x.t), x.values.outbox!]) },
  ];
  const hist = logHistogram(s.latencies).map((b) => ({ label: b.le >= 1000 ? `${b.le / 1000}s` : `${b.le}`, value: b.count }));
  const summary: [string, string][] = [
    ['result', r.ok ? 'PASSED' : 'FAILED'],
    ['seed / run', `${r.seed} / ${r.tag} (${r.mode}, namespace ${r.namespace})`],
    ['commands', `${r.commands} (+ ${r.setupCommands} setup)`],
    ['duplicates', `${r.duplicates} published, ${r.duplicatesAbsorbed} absorbed`],
    ['faults', Object.entries(r.faults).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'],
    ['crashes after commit', String(r.crashesAfterCommit)],
    ['throughput', `${r.throughput.toFixed(1)} commands/s`],
    ['latency (publish → first event)', `p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms, max ${r.latency_ms.max} ms`],
    ['quiescence', r.quiescence.reached ? `after ${(r.quiescence.waitedMs / 1000).toFixed(1)} s` : `not reached: ${r.quiescence.pending.join('; ')}`],
    ...(r.soak.reads ? [['stock queries (read model)', `${r.soak.reads.count} at ${r.soak.reads.perSec}/s, p50 ${r.soak.reads.p50_ms} ms, p99 ${r.soak.reads.p99_ms} ms, ${r.soak.reads.errors} errors`] as [string, string]] : []),
    ['reproduce', r.reproduce],
  ];
  const invariantRows = r.invariants
    .map((i) => `<tr class="${i.ok ? 'ok' : 'fail'}"><td>${esc(i.title)}</td><td>${i.ok ? 'ok' : 'FAIL'}</td><td>${i.checked}</td><td>${i.violations}</td><td>${i.examples.map((e) => `<div>${esc(e)}</div>`).join('')}</td></tr>`)
    .join('');
  const faults = r.faultLog.map((f) => `<tr><td>${sec(f.t).toFixed(1)} s</td><td>${f.kind}</td><td>${f.ok ? '' : 'not injected'}</td><td>${esc(f.target)}</td><td>${esc(f.detail)}</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stockflow flood ${esc(r.tag)} — ${r.ok ? 'passed' : 'FAILED'}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:960px;color:#222}
h1{font-size:20px} table{border-collapse:collapse;width:100%;margin:1em 0} td,th{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}
tr.fail td{background:#fde8e8} tr.ok td:nth-child(2){color:#1a7f37} tr.fail td:nth-child(2){color:#c00;font-weight:bold}
p.verdict{font-size:16px;padding:.5em .8em;border-radius:4px} p.verdict.ok{background:#e6f4ea} p.verdict.fail{background:#fde8e8;font-weight:bold}
figure{margin:1.5em 0} figcaption{font-weight:600;margin-bottom:.3em} td div{font-family:monospace;font-size:12px}
</style></head><body>
<h1>stockflow flood — ${r.ok ? 'PASSED' : 'FAILED'}</h1>
<p class="verdict ${r.ok ? 'ok' : 'fail'}">${esc(verdictLine(r))}</p>
<h2>Invariants</h2>
<table><tr><th>invariant</th><th>result</th><th>checked</th><th>violations</th><th>first offenders</th></tr>${invariantRows}</table>
<h2>Run</h2>
<table>${summary.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
${lineChart({ title: 'Throughput (commands per second) with fault markers', series: throughput, markers, xLabel: 'seconds since start', yLabel: 'per second' })}
${lineChart({ title: 'Queue depth and outbox backlog with fault markers', series: depth, markers, xLabel: 'seconds since start', yLabel: 'messages' })}
${barChart({ title: `Latency histogram, publish → first event (${s.latencies.length} commands)`, bars: hist, xLabel: 'ms (upper bound of bucket)', yLabel: 'commands' })}
${soakHtml(r.soak, s.samples, sec, markers)}
<h2>Faults</h2>
<table><tr><th>at</th><th>kind</th><th></th><th>target</th><th>what</th></tr>${faults}</table>
</body></html>
`;
}
