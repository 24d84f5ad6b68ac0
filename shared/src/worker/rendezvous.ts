import { fmix32, fnv1a32 } from '@stockflow/client/internal';

/** How much `member` wants `partition`: highest random weight (rendezvous) hashing. */
export function rendezvousScore(member: string, partition: number): number {
  return fmix32(fnv1a32(`${member}/${partition}`));
}

/**
 * Deterministic, balanced partition assignment over the live members. Every instance computes
 * it from the same member list and must get the same answer, so it depends on nothing else
 * (no order, no clock, no previous state).
 *
 * Rendezvous ranking with capacity: every (partition, member) pair is ranked by its score,
 * best first, and taken when the partition is still free and the member still has room.
 * Room is floor(P/M) for everyone plus one extra for the first P mod M members to fill up,
 * so counts differ by at most one. Each partition goes to the member that ranks it highest
 * unless that member is already full, which keeps moves close to the minimum when a member
 * joins or leaves: mostly only the partitions the newcomer ranks highest (or the leaver held)
 * change hands.
 */
export function assignPartitions(members: readonly string[], partitions: number): Map<string, number[]> {
  const live = [...new Set(members)].sort();
  const out = new Map<string, number[]>(live.map((m) => [m, []]));
  if (live.length === 0) return out;
  const floor = Math.floor(partitions / live.length);
  let extra = partitions % live.length;
  const pairs: { m: string; p: number; s: number }[] = [];
  for (let p = 0; p < partitions; p++) for (const m of live) pairs.push({ m, p, s: rendezvousScore(m, p) });
  pairs.sort((a, b) => b.s - a.s || a.p - b.p || (a.m < b.m ? -1 : 1));
  const taken = new Set<number>();
  for (const { m, p } of pairs) {
    if (taken.has(p)) continue;
    const held = out.get(m)!;
    if (held.length < floor || (held.length === floor && extra > 0)) {
      if (held.length === floor) extra--;
      held.push(p);
      taken.add(p);
      if (taken.size === partitions) break;
    }
  }
  for (const held of out.values()) held.sort((a, b) => a - b);
  return out;
}
