import { judgeBacklog, judgeRss, median, rulesFor, slope, type Point } from './trend';

const MIN = 60_000;
const T0 = 1_700_000_000_000;
const rules = rulesFor(30 * MIN);

/** Deterministic noise in [-1, 1): the verdicts must not depend on luck. */
function noise(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return (x / 2 ** 30) - 1;
  };
}

/** Samples every `everyMs` from `fromMs` to `toMs` (relative to T0). */
function series(fromMs: number, toMs: number, everyMs: number, value: (ms: number) => number): Point[] {
  const out: Point[] = [];
  for (let ms = fromMs; ms <= toMs; ms += everyMs) out.push({ t: T0 + ms, v: value(ms) });
  return out;
}

/** V8-like: climbs to its working size in two minutes, then saw-tooths ±12 MB with GC. */
function healthyProcess(start: number, end: number, seed: number): Point[] {
  const n = noise(seed);
  return series(start, end, 5000, (ms) => {
    const age = ms - start;
    const base = 60 + 60 * Math.min(1, age / (2 * MIN));
    return base + 12 * (((age / 40_000) % 1) * 2 - 1) + 2 * n();
  });
}

describe('trend helpers', () => {
  it('fits the slope of a line and ignores constant offsets', () => {
    expect(slope([{ t: 0, v: 5 }, { t: 1000, v: 7 }, { t: 2000, v: 9 }])).toBeCloseTo(0.002);
    expect(slope([{ t: 0, v: 1 }])).toBe(0);
    expect(median([3, 1, 2, 10])).toBe(2.5);
  });
});

describe('RSS leak rule', () => {
  it('passes a flat process with GC noise', () => {
    const v = judgeRss('rss flat', healthyProcess(0, 30 * MIN, 1), rules);
    expect(v).toMatchObject({ judged: true, ok: true });
  });

  it('fails a process that keeps growing 3 MB a minute', () => {
    const n = noise(2);
    const v = judgeRss('rss leak', series(0, 30 * MIN, 5000, (ms) => 100 + (3 * ms) / MIN + 8 * n()), rules);
    expect(v).toMatchObject({ judged: true, ok: false });
    expect(v.slopePerMin).toBeGreaterThan(2.5);
    expect(v.detail).toMatch(/^LEAK/);
  });

  it('passes a sawtooth of restarts when each incarnation is judged over its own life', () => {
    const lives = [healthyProcess(0, 12 * MIN, 3), healthyProcess(12 * MIN + 2000, 24 * MIN, 4), healthyProcess(24 * MIN + 2000, 36 * MIN, 5)];
    const longRules = rulesFor(12 * MIN);
    const verdicts = lives.map((pts, i) => judgeRss(`rss #${i + 1}`, pts, longRules));
    expect(verdicts.map((v) => [v.judged, v.ok])).toEqual([[true, true], [true, true], [true, true]]);
  });

  it('still catches a leak in one incarnation among restarts', () => {
    const longRules = rulesFor(12 * MIN);
    const leaky = series(12 * MIN, 24 * MIN, 5000, (ms) => 90 + (4 * (ms - 12 * MIN)) / MIN);
    expect(judgeRss('rss #1', healthyProcess(0, 12 * MIN, 6), longRules).ok).toBe(true);
    expect(judgeRss('rss #2', leaky, longRules).ok).toBe(false);
  });

  it('does not judge RSS over less than two minutes, where V8 heap sizing looks like a leak', () => {
    const short = rulesFor(40_000);
    const growing = series(0, 40_000, 1000, (ms) => 90 + ms / 1000);
    expect(judgeRss('rss smoke', growing, short)).toMatchObject({ judged: false, ok: true });
    expect(judgeBacklog('backlog smoke', growing, 10, short).judged).toBe(true);
  });

  it('does not judge an incarnation that lived too briefly after its warm-up', () => {
    const v = judgeRss('rss short', healthyProcess(0, 6 * MIN, 7), rules);
    expect(v).toMatchObject({ judged: false, ok: true });
    expect(v.detail).toMatch(/too short/);
  });

  it('passes a plateau reached after the warm-up (rise without a late slope)', () => {
    const v = judgeRss('rss plateau', series(0, 30 * MIN, 5000, (ms) => (ms < 14 * MIN ? 100 + (8 * ms) / MIN : 212)), rules);
    expect(v.judged).toBe(true);
    expect(v.last - v.first).toBeGreaterThan(rules.rssMinRiseMb);
    expect(v.ok).toBe(true);
  });
});

describe('backlog rule', () => {
  const rate = 150;

  it('passes a steady backlog with a fault spike', () => {
    const n = noise(8);
    const pts = series(0, 30 * MIN, 2000, (ms) => 250 + 80 * n() + (ms > 20 * MIN && ms < 20 * MIN + 12_000 ? 3000 : 0));
    expect(judgeBacklog('backlog', pts, rate, rules)).toMatchObject({ judged: true, ok: true });
  });

  it('fails a backlog that keeps growing past 30 s of traffic', () => {
    const n = noise(9);
    const v = judgeBacklog('backlog', series(0, 30 * MIN, 2000, (ms) => 200 + (ms / 1000) * 8 + 50 * n()), rate, rules);
    expect(v).toMatchObject({ judged: true, ok: false });
    expect(v.last).toBeGreaterThan(rate * rules.backlogSecondsOfTraffic);
  });

  it('passes a backlog that grows a little but stays far below 30 s of traffic', () => {
    const v = judgeBacklog('backlog', series(0, 30 * MIN, 2000, (ms) => 200 + ms / 10_000), rate, rules);
    expect(v.slopePerMin).toBeGreaterThan(0);
    expect(v.ok).toBe(true);
  });

  it('passes a large backlog that drains during the second half', () => {
    const v = judgeBacklog('backlog', series(0, 30 * MIN, 2000, (ms) => Math.max(300, 20_000 - (ms / 1000) * 10)), rate, rules);
    expect(v.judged).toBe(true);
    expect(v.ok).toBe(true);
  });
});

describe('rules for short soaks', () => {
  it('scales warm-up and span with the duration and caps them for long runs', () => {
    expect(rulesFor(40_000)).toMatchObject({ warmupMs: 10_000, minSpanMs: 15_000, rssMinSpanMs: 2 * MIN });
    expect(rulesFor(60 * MIN)).toMatchObject({ warmupMs: 5 * MIN, minSpanMs: 10 * MIN, rssMinSpanMs: 10 * MIN });
    expect(rulesFor(40_000, 5_000).warmupMs).toBe(5_000);
  });
});
