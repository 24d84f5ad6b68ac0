import { meetsFloorShare, ratioVsFloor, type FloorRow } from './floor-phase';

const floorRow = (name: string, msgsPerS: number): FloorRow => ({
  name,
  msgs_per_s: msgsPerS,
  worker_cpu_us_per_msg: 40,
  host_cpu_us_per_msg: 250,
  host_cpu_split_us_per_msg: { worker: 40, broker: 90, postgres: 30, redis: 0, bench: 90, other: 0 },
  mean_batch: 100,
  rss_mb: 110,
  half_load: { msgs_per_s: msgsPerS / 2, p50_ms: 9, p99_ms: 25 },
});

describe('the floor targets', () => {
  const floor = [floorRow('uniform', 7041), floorRow('hot-key', 8000)];

  it('judges a share on the unrounded ratio, which the JSON shows rounded', () => {
    const row = { msgs_per_s: 5275, ...ratioVsFloor('uniform', 5275, floor) };
    expect(row.ratio_vs_floor).toBe(0.75);
    expect(meetsFloorShare(row, 'uniform', floor, 0.75)).toBe(false);
    expect(meetsFloorShare({ msgs_per_s: 5281, floor_scenario: 'uniform' }, 'uniform', floor, 0.75)).toBe(true);
  });

  it('has no verdict without the row, or against another scenario of the floor', () => {
    expect(meetsFloorShare(undefined, 'uniform', floor, 0.75)).toBeNull();
    expect(meetsFloorShare({ msgs_per_s: 7000, floor_scenario: 'uniform' }, 'hot-key', floor, 0.75)).toBeNull();
    expect(meetsFloorShare({ msgs_per_s: 7000, floor_scenario: 'hot-key' }, 'hot-key', [floorRow('uniform', 7041)], 0.75)).toBeNull();
  });
});
