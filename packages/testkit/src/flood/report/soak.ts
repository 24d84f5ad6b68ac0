import { WORKER_KINDS } from '@stockflow/shared';
import type { History } from '../history/history';
import type { FloodOptions } from '../options';
import { SCHEMAS } from '../sampling/probes';
import type { Sample } from '../sampling/sampler';
import { parseRssKey } from '../sampling/soak-probes';
import type { ReadFigures } from '../soak/reads';
import { judgeBacklog, judgeRss, rulesFor, type Point, type TrendRules, type TrendVerdict } from '../soak/trend';
import { percentile } from './stats';

/** The soak part of the report: probe figures, per-window throughput and latency, trend verdicts. */
export interface SoakReport {
  /** Trends are judged for --duration runs (a soak); a bounded flood publishes as fast as it can, so its backlog grows by design. */
  judged: boolean;
  /** No judged trend showed a leak. */
  ok: boolean;
  rules: TrendRules;
  /** One per worker process incarnation (RSS) and one for the backlog. */
  trends: TrendVerdict[];
  rss_mb: Record<string, { start: number; end: number; peak: number }>;
  postgres: { maxConnections: number; maxLockWaits: number; maxLocksUngranted: number };
  /** At the last sample: live rows and MB of each schema's inbox. */
  inbox: { rows: Record<string, number>; mb: Record<string, number> };
  /** Queue depth + outbox rows + confirmed-but-unclaimed commands. */
  backlog: { final: number; peak: number; slopePerMin: number };
  /** Deepest single partition queue seen per worker kind, and which partition it was. */
  partitions: Record<string, { maxDepth: number; partition: number }>;
  /** Per sample interval: commands whose first event arrived in it, and their p99 publish → event. */
  windows: { t: number; appliedPerSec: number; p99_ms: number }[];
  reads?: ReadFigures;
  /** Every probe reading; t in seconds since publishing started. */
  samples: { t: number; values: Record<string, number> }[];
}

export interface SoakInput {
  opts: FloodOptions;
  samples: Sample[];
  history: History;
  tPublish: number;
  tPublished: number;
  publishedPerSec: number;
  reads: ReadFigures | undefined;
}

const r1 = (n: number) => Math.round(n * 10) / 10;

function points(samples: Sample[], value: (v: Record<string, number>) => number | undefined): Point[] {
  const out: Point[] = [];
  for (const s of samples) {
    const v = value(s.values);
    if (v !== undefined && Number.isFinite(v)) out.push({ t: s.t, v });
  }
  return out;
}

const maxOf = (pts: Point[]) => pts.reduce((m, p) => Math.max(m, p.v), 0);

export function backlogOf(v: Record<string, number>): number | undefined {
  // Queued commands count twice (ready in a queue and not yet claimed); the limit allows for it.
  return v.depth === undefined || v.outbox === undefined || v.lag === undefined ? undefined : v.depth + v.outbox + v.lag;
}

export function buildSoak(x: SoakInput): SoakReport {
  const all = x.samples;
  const publishing = all.filter((s) => s.t >= x.tPublish && s.t <= x.tPublished);
  const judged = x.opts.durationMs !== undefined;
  const rules = rulesFor(x.opts.durationMs ?? x.tPublished - x.tPublish, x.opts.warmupMs);

  const lives = new Map<string, { kind: string; pts: Point[] }>();
  for (const s of publishing) {
    for (const [k, v] of Object.entries(s.values)) {
      const id = parseRssKey(k);
      if (!id) continue;
      const life = lives.get(k) ?? lives.set(k, { kind: id.kind, pts: [] }).get(k)!;
      life.pts.push({ t: s.t, v });
    }
  }
  const backlog = points(publishing, backlogOf);
  const rate = x.opts.rate > 0 ? x.opts.rate : x.publishedPerSec;
  const trends = judged
    ? [...[...lives.entries()].map(([k, l]) => judgeRss(`rss ${l.kind} ${parseRssKey(k)!.process}`, l.pts, rules)), judgeBacklog('backlog', backlog, rate, rules)]
    : [];

  const rss: SoakReport['rss_mb'] = {};
  for (const kind of WORKER_KINDS) {
    const pts = points(all, (v) => v[`rss.${kind}`]);
    if (pts.length > 0) rss[kind] = { start: r1(pts[0]!.v), end: r1(pts[pts.length - 1]!.v), peak: r1(maxOf(pts)) };
  }
  const partitions: SoakReport['partitions'] = {};
  for (const kind of WORKER_KINDS) {
    let best = { maxDepth: 0, partition: 0 };
    for (const s of all) {
      const d = s.values[`depthMax.${kind}`];
      if (d !== undefined && d > best.maxDepth) best = { maxDepth: d, partition: s.values[`depthMaxAt.${kind}`] ?? 0 };
    }
    partitions[kind] = best;
  }
  const last = [...all].reverse().find((s) => s.values.inbox !== undefined)?.values ?? {};
  const backlogAll = points(all, backlogOf);
  const backlogTrend = trends.find((t) => t.name === 'backlog');
  return {
    judged,
    ok: trends.every((t) => t.ok),
    rules,
    trends,
    rss_mb: rss,
    postgres: { maxConnections: maxOf(points(all, (v) => v.pgConnections)), maxLockWaits: maxOf(points(all, (v) => v.lockWaits)), maxLocksUngranted: maxOf(points(all, (v) => v.locksUngranted)) },
    inbox: {
      rows: Object.fromEntries(SCHEMAS.map((s) => [s, last[`inbox.${s}`] ?? NaN])),
      mb: Object.fromEntries(SCHEMAS.map((s) => [s, r1(last[`inboxMB.${s}`] ?? NaN)])),
    },
    backlog: { final: backlog[backlog.length - 1]?.v ?? NaN, peak: maxOf(backlogAll), slopePerMin: r1(backlogTrend?.slopePerMin ?? NaN) },
    partitions,
    windows: windows(x.history, all.map((s) => s.t).filter((t) => t >= x.tPublish), x.tPublish),
    ...(x.reads ? { reads: x.reads } : {}),
    samples: all.map((s) => ({ t: r1((s.t - x.tPublish) / 1000), values: Object.fromEntries(Object.entries(s.values).map(([k, v]) => [k, r1(v)])) })),
  };
}

/** Throughput and p99 latency per sample interval, from the history (exact, not sampled). */
function windows(history: History, times: number[], tPublish: number): SoakReport['windows'] {
  const effects: [number, number][] = [];
  for (const c of history.commands()) {
    if (c.setup) continue;
    const at = history.firstEffectAt.get(c.id);
    if (at !== undefined) effects.push([at, Math.max(0, at - c.t)]);
  }
  effects.sort((a, b) => a[0] - b[0]);
  const out: SoakReport['windows'] = [];
  let i = 0;
  let from = tPublish;
  for (const to of times) {
    if (to <= from) continue;
    const lat: number[] = [];
    while (i < effects.length && effects[i]![0] <= to) {
      if (effects[i]![0] > from) lat.push(effects[i]![1]);
      i++;
    }
    lat.sort((a, b) => a - b);
    out.push({ t: r1((to - tPublish) / 1000), appliedPerSec: r1(lat.length / ((to - from) / 1000)), p99_ms: lat.length ? Math.round(percentile(lat, 99)) : NaN });
    from = to;
  }
  return out;
}
