import { MIXED, type Mix } from '../workload/types';

export const PROFILES = ['mixed', 'read-heavy', 'write-heavy', 'hot-key'] as const;
export type Profile = (typeof PROFILES)[number];

/** What a profile sets; explicit options on the command line override any of it. */
export interface Preset {
  mix: Mix;
  hotKeys: number;
  hotShare: number;
  readsPerSec: number;
  doc: string;
}

/**
 * Named workloads for soaks. Each stresses one thing the invariants alone do not
 * show: readers beside writers (read model latency, lock waits they cause), stock moves
 * without the order saga (raw write throughput, outbox volume), and contention on a few rows
 * (lock waits, per-partition lag, since one hot key lives on one partition).
 */
export const PRESETS: Record<Profile, Preset> = {
  mixed: { mix: { ...MIXED }, hotKeys: 4, hotShare: 0.3, readsPerSec: 0, doc: 'the default mix of every command kind, no readers' },
  'read-heavy': { mix: { ...MIXED }, hotKeys: 4, hotShare: 0.3, readsPerSec: 100, doc: 'the default mix plus 100 stock queries/s through the inventory read model' },
  'write-heavy': {
    mix: { receive: 25, adjustDelta: 10, adjustSet: 5, transfer: 20, ship: 15, order: 15, cancel: 2, reserve: 8 },
    hotKeys: 4,
    hotShare: 0.3,
    readsPerSec: 0,
    doc: 'mostly stock moves (receive, adjust, transfer, ship): ledger and outbox volume, fewer saga round trips',
  },
  'hot-key': {
    mix: { receive: 20, adjustDelta: 5, adjustSet: 5, transfer: 15, ship: 10, order: 20, cancel: 5, reserve: 20 },
    hotKeys: 2,
    hotShare: 0.8,
    readsPerSec: 0,
    doc: '80 % of stock traffic on 2 keys: lock contention, one deep partition',
  },
};

export function isProfile(name: string): name is Profile {
  return (PROFILES as readonly string[]).includes(name);
}
