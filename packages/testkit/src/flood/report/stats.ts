/** Nearest-rank percentile of an ascending array (p in 0..100); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Counts per bucket of `width` ms from `from` to `to` (for rates over time). */
export function perBucket(times: readonly number[], from: number, to: number, width: number): number[] {
  const n = Math.max(1, Math.ceil((to - from) / width));
  const out = new Array<number>(n).fill(0);
  for (const t of times) {
    const i = Math.floor((t - from) / width);
    if (i >= 0 && i < n) out[i]!++;
  }
  return out;
}

export interface HistogramBucket {
  /** Upper bound (ms) of the bucket; the first starts at 0. */
  le: number;
  count: number;
}

/** Latency histogram with power-of-two bucket bounds (1, 2, 4 … ms), up to the largest value. */
export function logHistogram(values: readonly number[]): HistogramBucket[] {
  if (values.length === 0) return [];
  const max = values.reduce((m, v) => (v > m ? v : m), 0);
  const buckets: HistogramBucket[] = [];
  for (let le = 1; ; le *= 2) {
    buckets.push({ le, count: 0 });
    if (le >= max) break;
  }
  for (const v of values) {
    const i = v <= 1 ? 0 : Math.ceil(Math.log2(v));
    buckets[Math.min(i, buckets.length - 1)]!.count++;
  }
  return buckets;
}
