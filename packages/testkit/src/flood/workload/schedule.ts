import { Rng } from '../rng';
import type { PlannedCommand, ScheduledPublish } from './types';

export interface ScheduleOptions {
  seed: string | number;
  /** Expected duplicates per command (0.3 = 30 %); above 1, several copies. */
  duplicates: number;
  /** Share of duplicates published late (the rest go right behind their original). */
  lateShare: number;
  /** Shuffle commands across keys within windows of this many (0 or 1 = no reordering). */
  reorderWindow: number;
  /** How many publishes later a late duplicate goes out. */
  lateDistance: [number, number];
}

interface Pending {
  dueAt: number;
  seq: number;
  item: ScheduledPublish;
}

/**
 * Turns the generated commands into the publish order:
 * - reordering: each window of commands is shuffled, then every key's commands are put back
 *   into the positions that key got, in their original order. Keys interleave differently;
 *   one key's commands never swap (the per-key sequence the publisher stamps stays monotonic).
 * - duplicates: exact copies of a command (same message id, payload and sequence), either
 *   right behind it (concurrent: often in the same delivery batch) or far behind it (late:
 *   long after the original was applied, sometimes after a worker restart).
 * A copy is always scheduled after its original, so it can never overtake it.
 */
export function* schedule(commands: Iterable<PlannedCommand>, opts: ScheduleOptions): Generator<ScheduledPublish> {
  const rng = Rng.derive(opts.seed, 'schedule');
  const pending: Pending[] = [];
  let position = 0;
  let order = 0;

  const enqueue = (dueAt: number, item: ScheduledPublish) => {
    const p = { dueAt, seq: order++, item };
    let i = pending.length;
    while (i > 0 && (pending[i - 1]!.dueAt > dueAt || (pending[i - 1]!.dueAt === dueAt && pending[i - 1]!.seq > p.seq))) i--;
    pending.splice(i, 0, p);
  };

  function* emit(item: ScheduledPublish): Generator<ScheduledPublish> {
    // Copies already due go first: they are older than this item.
    while (pending.length > 0 && pending[0]!.dueAt <= position) {
      position++;
      yield pending.shift()!.item;
    }
    const copies = copiesOf(rng, opts.duplicates);
    position++;
    yield { ...item, copies };
    for (let k = 0; k < copies; k++) {
      const late = rng.chance(opts.lateShare);
      const distance = late ? rng.int(...opts.lateDistance) : rng.int(0, 3);
      enqueue(position + distance, { command: item.command, duplicate: late ? 'late' : 'concurrent' });
    }
  }

  for (const window of windows(commands, Math.max(1, opts.reorderWindow))) {
    for (const command of reorderWindow(window, rng)) yield* emit({ command, duplicate: false });
  }
  while (pending.length > 0) yield pending.shift()!.item;
}

function copiesOf(rng: Rng, duplicates: number): number {
  const whole = Math.floor(duplicates);
  return whole + (rng.chance(duplicates - whole) ? 1 : 0);
}

function* windows<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let current: T[] = [];
  for (const item of items) {
    current.push(item);
    if (current.length >= size) {
      yield current;
      current = [];
    }
  }
  if (current.length > 0) yield current;
}

/** Shuffles across keys; per key, the original relative order is kept. */
export function reorderWindow(window: PlannedCommand[], rng: Rng): PlannedCommand[] {
  if (window.length < 2) return window;
  const slots = rng.shuffle(window.map((c) => c.key));
  const byKey = new Map<string, PlannedCommand[]>();
  for (const c of window) {
    const list = byKey.get(c.key);
    if (list) list.push(c);
    else byKey.set(c.key, [c]);
  }
  return slots.map((key) => byKey.get(key)!.shift()!);
}
