/**
 * Leak detection over soak samples: pure functions of time series, no I/O, so the rules can be
 * unit-tested on synthetic series (trend.spec.ts) and explained in docs/concurrent-testing.md.
 *
 * Two things must not grow under a steady load: the memory of each worker process, and the
 * backlog (messages queued, outbox rows, commands confirmed but not yet claimed). Both are
 * noisy: V8 grows and shrinks its heap in steps of tens of MB, a kill fault restarts a process
 * at a fraction of its size, a SIGSTOP piles up a partition's queue for ten seconds. So no rule
 * looks at single points: each drops a warm-up, fits a least-squares slope over the second
 * half only (early growth to a plateau — JIT, pools, caches, heap sizing — is normal; a leak
 * still grows at the end), and also demands that the median of the last window be clearly
 * above the median of the first. A slope alone trips on one GC cycle in a short window; a
 * rise alone trips on a plateau reached after the warm-up. A leak shows both.
 */

export interface Point {
  /** ms since the epoch */
  t: number;
  v: number;
}

export interface TrendRules {
  /** The first part of every series (a process's life, the publishing phase) is not judged. */
  warmupMs: number;
  /** A series needs this much time after its warm-up to be judged at all. */
  minSpanMs: number;
  /**
   * RSS series need at least this much: V8 keeps sizing its heap for the first minutes of a
   * new load, and a shorter series cannot tell that from a leak.
   */
  rssMinSpanMs: number;
  /** RSS leak: the second half's slope exceeds this (MB per 10 minutes) … */
  rssMbPer10Min: number;
  /** … and the last window's median exceeds the first window's by more than this (MB). */
  rssMinRiseMb: number;
  /**
   * Backlog leak: it still grows over the second half, and the last window's median is more
   * than this many seconds of traffic (rate × seconds): a system that keeps up holds a few
   * seconds' worth in flight, whatever the rate.
   */
  backlogSecondsOfTraffic: number;
}

/** Defaults for a soak of `durationMs`: long runs get the full rules, short ones scaled down. */
export function rulesFor(durationMs: number, warmupMs?: number): TrendRules {
  const warmup = warmupMs ?? Math.min(5 * 60_000, durationMs / 4);
  return {
    warmupMs: warmup,
    minSpanMs: Math.min(10 * 60_000, Math.max(5_000, (durationMs - warmup) / 2)),
    rssMinSpanMs: Math.max(2 * 60_000, Math.min(10 * 60_000, (durationMs - warmup) / 2)),
    rssMbPer10Min: 20,
    rssMinRiseMb: 24,
    backlogSecondsOfTraffic: 30,
  };
}

export interface TrendVerdict {
  /** e.g. `rss inventory fl-ab12cd-inv0#2`, `backlog`. */
  name: string;
  /** false when the series was too short (after warm-up) to say anything. */
  judged: boolean;
  ok: boolean;
  /** Second-half least-squares slope, in the series' unit per minute. */
  slopePerMin: number;
  /** Medians of the first and last windows after the warm-up. */
  first: number;
  last: number;
  detail: string;
}

/** Least-squares slope of v over t, per ms (0 for fewer than two distinct times). */
export function slope(points: readonly Point[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mt = points.reduce((s, p) => s + p.t, 0) / n;
  const mv = points.reduce((s, p) => s + p.v, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.v - mv);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Fewer readings than this after the warm-up say nothing, however long they span. */
const MIN_POINTS = 8;

interface Shape {
  judged: boolean;
  points: number;
  span: number;
  slopePerMin: number;
  first: number;
  last: number;
}

/**
 * Warm-up dropped, then: slope over the second half (by time), medians of the first and last
 * quarter. Quarters, not single points, so one spike or GC dip at either end decides nothing.
 */
function shape(points: readonly Point[], rules: TrendRules, minSpanMs: number): Shape {
  const sorted = [...points].sort((a, b) => a.t - b.t);
  const start = sorted[0]?.t ?? 0;
  const post = sorted.filter((p) => p.t >= start + rules.warmupMs);
  const span = post.length > 1 ? post[post.length - 1]!.t - post[0]!.t : 0;
  if (post.length < MIN_POINTS || span < minSpanMs) return { judged: false, points: post.length, span, slopePerMin: NaN, first: NaN, last: NaN };
  const t0 = post[0]!.t;
  const window = (from: number, to: number) => post.filter((p) => p.t >= t0 + from * span && p.t <= t0 + to * span);
  return {
    judged: true,
    points: post.length,
    span,
    slopePerMin: slope(window(0.5, 1)) * 60_000,
    first: median(window(0, 0.25).map((p) => p.v)),
    last: median(window(0.75, 1).map((p) => p.v)),
  };
}

const f1 = (n: number) => n.toFixed(1);

function unjudged(name: string, s: Shape, minSpanMs: number): TrendVerdict {
  const detail = `${s.points} samples over ${f1(s.span / 1000)} s after the warm-up: too short to judge (needs ${MIN_POINTS} samples over ${f1(minSpanMs / 1000)} s)`;
  return { name, judged: false, ok: true, slopePerMin: NaN, first: NaN, last: NaN, detail };
}

function judgedVerdict(name: string, s: Shape, leak: boolean, detail: string): TrendVerdict {
  return { name, judged: true, ok: !leak, slopePerMin: s.slopePerMin, first: s.first, last: s.last, detail };
}

/**
 * RSS (MB) of one process incarnation, judged over its own lifetime: a restart after a kill
 * starts a new series, so the drop is never mistaken for a recovery nor the regrowth for a leak.
 */
export function judgeRss(name: string, points: readonly Point[], rules: TrendRules): TrendVerdict {
  const s = shape(points, rules, rules.rssMinSpanMs);
  if (!s.judged) return unjudged(name, s, rules.rssMinSpanMs);
  const per10 = s.slopePerMin * 10;
  const rise = s.last - s.first;
  const leak = per10 > rules.rssMbPer10Min && rise > rules.rssMinRiseMb;
  return judgedVerdict(name, s, leak, `${leak ? 'LEAK: ' : ''}RSS ${f1(s.first)} → ${f1(s.last)} MB (rise ${f1(rise)}, limit ${rules.rssMinRiseMb}), second-half slope ${f1(per10)} MB/10 min (limit ${rules.rssMbPer10Min})`);
}

/** Backlog (messages) during publishing, against the offered rate (messages per second). */
export function judgeBacklog(name: string, points: readonly Point[], ratePerSec: number, rules: TrendRules): TrendVerdict {
  const s = shape(points, rules, rules.minSpanMs);
  if (!s.judged) return unjudged(name, s, rules.minSpanMs);
  const limit = ratePerSec * rules.backlogSecondsOfTraffic;
  const leak = s.slopePerMin > 0 && s.last > s.first && s.last > limit;
  return judgedVerdict(name, s, leak, `${leak ? 'GROWING: ' : ''}backlog ${Math.round(s.first)} → ${Math.round(s.last)} (limit ${Math.round(limit)} = ${rules.backlogSecondsOfTraffic} s × ${f1(ratePerSec)}/s), second-half slope ${f1(s.slopePerMin)}/min`);
}
