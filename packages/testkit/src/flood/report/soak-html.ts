import { WORKER_KINDS } from '@stockflow/shared';
import type { Sample } from '../sampling/sampler';
import { backlogOf, type SoakReport } from './soak';
import { esc, lineChart, type Marker, type Series } from './svg';

const KIND_COLORS: Record<string, string> = { inventory: '#4477aa', orders: '#228833', payments: '#ccbb44' };
const EXTRA_COLORS = ['#4477aa', '#ee6677', '#228833', '#ccbb44', '#66ccee', '#aa3377'];

/** The soak charts (RSS, Postgres, inbox, backlog, per-window throughput and p99) and the trend table. */
export function soakHtml(s: SoakReport, samples: Sample[], sec: (t: number) => number, markers: Marker[]): string {
  const line = (name: string, color: string, value: (v: Record<string, number>) => number | undefined): Series => ({
    name,
    color,
    points: samples.flatMap((x) => {
      const v = value(x.values);
      return v === undefined || !Number.isFinite(v) ? [] : [[sec(x.t), v] as [number, number]];
    }),
  });
  const chart = (title: string, yLabel: string, series: Series[]) => lineChart({ title, series: series.filter((x) => x.points.length > 0), markers, xLabel: 'seconds since publishing started', yLabel });
  const windows = (name: string, color: string, pick: (w: SoakReport['windows'][number]) => number): Series => ({ name, color, points: s.windows.filter((w) => Number.isFinite(pick(w))).map((w) => [w.t, pick(w)]) });
  const rows = s.trends
    .map((t) => `<tr class="${t.ok ? 'ok' : 'fail'}"><td>${esc(t.name)}</td><td>${t.judged ? (t.ok ? 'ok' : 'LEAK') : 'not judged'}</td><td>${esc(t.detail)}</td></tr>`)
    .join('');
  const verdict = s.judged ? (s.ok ? 'no trend shows a leak' : 'A TREND SHOWS A LEAK') : 'trends not judged (only --duration runs are)';
  return [
    `<h2>Soak: ${esc(verdict)}</h2>`,
    s.trends.length ? `<table><tr><th>series</th><th>result</th><th>detail</th></tr>${rows}</table>` : '',
    chart('Worker RSS, largest process per kind (MB)', 'MB', WORKER_KINDS.map((k) => line(k, KIND_COLORS[k]!, (v) => v[`rss.${k}`]))),
    chart('Postgres sessions and lock waits', 'count', [
      line('connections', '#4477aa', (v) => v.pgConnections),
      line('sessions waiting for a lock', '#cc3311', (v) => v.lockWaits),
      line('ungranted locks', '#ee7733', (v) => v.locksUngranted),
    ]),
    chart('Inbox rows per schema', 'rows', ['inventory', 'orders', 'payments'].map((k, i) => line(k, EXTRA_COLORS[i]!, (v) => v[`inbox.${k}`]))),
    chart('Backlog: depth + outbox + unclaimed commands, and the deepest partition per kind', 'messages', [
      line('backlog', '#000000', backlogOf),
      line('confirmed, not yet claimed', '#aa3377', (v) => v.lag),
      ...WORKER_KINDS.map((k) => line(`deepest ${k} partition`, KIND_COLORS[k]!, (v) => v[`depthMax.${k}`])),
    ]),
    chart('Throughput per sample window (commands whose first event arrived)', 'per second', [windows('applied / s', '#4477aa', (w) => w.appliedPerSec)]),
    chart('p99 latency per sample window, publish → first event', 'ms', [windows('p99', '#cc3311', (w) => w.p99_ms)]),
  ].join('\n');
}
