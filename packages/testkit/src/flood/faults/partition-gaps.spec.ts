import { partitionGaps, type PartitionTimeline } from './partition-gaps';

describe('partitionGaps', () => {
  const w = { outageAt: 10_000, until: 60_000 };
  const one = (tl: PartitionTimeline) => partitionGaps(new Map([['inventory p03', tl]]), w);

  it('takes the longest standstill after the prefetched messages, not the first row after the outage', () => {
    // Two messages prefetched before the outage go on for a second, then nothing for 12 s while a third waits.
    const gaps = one({ progress: [9_000, 10_500, 11_000, 23_000], waits: [{ from: 8_000, until: 10_500 }, { from: 8_500, until: 11_000 }, { from: 9_500, until: 23_000 }] });
    expect(gaps).toEqual([{ partition: 'inventory p03', noProgressMs: 12_000, stalled: false }]);
  });

  it('counts a gap only from when work waits in it', () => {
    // Nothing to do from 9 s to 20 s (the publisher reconnecting), then the command applied 1 s after its confirm.
    expect(one({ progress: [9_000, 21_000], waits: [{ from: 20_000, until: 21_000 }] })[0]!.noProgressMs).toBe(1_000);
  });

  it('counts the standstill that spans the outage from the last progress before it', () => {
    expect(one({ progress: [2_000, 16_000], waits: [{ from: 1_000, until: 16_000 }] })[0]!.noProgressMs).toBe(14_000);
  });

  it('calls a partition with work still waiting and no progress since the outage stalled, up to the window end', () => {
    expect(one({ progress: [9_500], waits: [{ from: 9_800, until: undefined }] })).toEqual([{ partition: 'inventory p03', noProgressMs: 50_200, stalled: true }]);
  });

  it('leaves out partitions without work after the outage began', () => {
    expect(one({ progress: [5_000, 30_000], waits: [{ from: 4_000, until: 5_000 }] })).toEqual([]);
  });

  it('sorts the longest first', () => {
    const tl = (end: number): PartitionTimeline => ({ progress: [9_000, end], waits: [{ from: 9_000, until: end }] });
    expect(partitionGaps(new Map([['a', tl(11_000)], ['b', tl(20_000)]]), w).map((g) => g.partition)).toEqual(['b', 'a']);
  });
});
