/**
 * How long partitions made no progress while work waited for them around an outage.
 *
 * Progress is a transaction taking up one of the partition's messages (an inbox received_at,
 * of a command or an event). Work waits from the moment the flood first sent one of its
 * commands for the partition (confirmed or refused: a queue without a leader refuses) until its
 * own inbox row. A partition stands still in the part of a
 * gap between two progress points during which some command waited: a gap without waiting work
 * is a partition with nothing to do (the publisher itself paused, or the load is light), not a
 * stuck one. Gaps, not the first row after the outage: a worker applies what it had prefetched
 * before a stall shows.
 */
export interface PartitionGap {
  /** `<kind> p<partition>` */
  partition: string;
  noProgressMs: number;
  /** Work still waited at the window's end with no progress since the outage. */
  stalled: boolean;
}

export interface PartitionTimeline {
  /** Inbox times (ms), any order. */
  progress: number[];
  /** Each command: first sent at `from`, applied at `until` (undefined: not in the window). */
  waits: { from: number; until: number | undefined }[];
}

export interface GapWindow {
  /** When the outage began: only gaps ending after it count. */
  outageAt: number;
  /** The end of the window: what comes later is not looked at. */
  until: number;
}

/** Partitions with work waiting at some point after the outage began, the longest standstill first. */
export function partitionGaps(timelines: Map<string, PartitionTimeline>, w: GapWindow): PartitionGap[] {
  const out: PartitionGap[] = [];
  for (const [partition, tl] of timelines) {
    const waits = tl.waits.filter((x) => x.from < w.until && (x.until === undefined || x.until >= w.outageAt));
    if (waits.length === 0) continue;
    const points = [...new Set(tl.progress.filter((t) => t <= w.until))].sort((a, b) => a - b);
    const since = points.filter((t) => t < w.outageAt).pop() ?? -Infinity;
    const ends = [...points.filter((t) => t >= w.outageAt), w.until];
    let longest = 0;
    let stalled = false;
    let prev = since;
    for (const end of ends) {
      // Commands waiting just before `end`: sent before it, not applied before it.
      const waitingFrom = waits.filter((x) => x.from < end && (x.until === undefined || x.until >= end)).reduce((m, x) => Math.min(m, x.from), Infinity);
      const standstill = end - Math.max(prev, waitingFrom);
      if (standstill > longest) {
        longest = standstill;
        stalled = end === w.until && prev === since;
      }
      prev = end;
    }
    out.push({ partition, noProgressMs: longest, stalled });
  }
  return out.sort((a, b) => b.noProgressMs - a.noProgressMs);
}
