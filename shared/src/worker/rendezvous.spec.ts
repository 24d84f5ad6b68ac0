import { assignPartitions } from './rendezvous';

function owners(a: Map<string, number[]>): Map<number, string> {
  const out = new Map<number, string>();
  for (const [m, ps] of a) for (const p of ps) out.set(p, m);
  return out;
}

function moved(before: Map<string, number[]>, after: Map<string, number[]>): number {
  const was = owners(before);
  return [...owners(after)].filter(([p, m]) => was.get(p) !== m).length;
}

const names = (n: number, seed: string) => Array.from({ length: n }, (_, i) => `worker-${seed}-${i}`);

describe('assignPartitions (rendezvous with capacity)', () => {
  it('gives every partition exactly one owner, balanced to ±1', () => {
    for (const m of [1, 2, 3, 4, 5, 7, 16, 17, 40]) {
      for (const p of [1, 4, 16, 17, 64]) {
        const a = assignPartitions(names(m, `${m}x${p}`), p);
        const all = [...a.values()].flat().sort((x, y) => x - y);
        expect(all).toEqual(Array.from({ length: p }, (_, i) => i));
        const counts = [...a.values()].map((ps) => ps.length);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('is deterministic: the same members in any order, duplicates ignored', () => {
    const ms = names(3, 'det');
    const a = assignPartitions(ms, 16);
    expect(assignPartitions([...ms].reverse(), 16)).toEqual(a);
    expect(assignPartitions([...ms, ms[0]!], 16)).toEqual(a);
    expect([...a.values()].map((ps) => ps.length).sort()).toEqual([5, 5, 6]);
  });

  it('moves few partitions on join and leave (close to the minimum)', () => {
    let join = 0;
    let leave = 0;
    const runs = 200;
    for (let r = 0; r < runs; r++) {
      const ms = names(3, `run${r}`);
      const three = assignPartitions(ms, 16);
      join += moved(three, assignPartitions([...ms, `newcomer-${r}`], 16));
      const gone = ms[r % 3]!;
      const left = assignPartitions(ms.filter((m) => m !== gone), 16);
      leave += moved(three, left);
      // Survivors keep most of what they had: only the leaver's partitions must move.
      expect(moved(three, left)).toBeGreaterThanOrEqual(three.get(gone)!.length);
    }
    // Minimum: 4 on a join (the newcomer's share of 16 over 4), 5.33 on a leave (its share of 16 over 3).
    expect(join / runs).toBeLessThan(4 * 1.5);
    expect(leave / runs).toBeLessThan(5.34 * 1.25);
  });

  it('handles no members and more members than partitions', () => {
    expect(assignPartitions([], 16).size).toBe(0);
    const a = assignPartitions(names(5, 'spare'), 3);
    expect([...a.values()].filter((ps) => ps.length === 0)).toHaveLength(2);
  });
});
