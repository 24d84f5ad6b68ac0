import type { OutboxRecord } from './outbox';
import { rowKey } from './outbox-round';

/**
 * Hand-offs kept in memory at most (about 1.2 KB each). Beyond it the rows stay in the table
 * and are read from there once the queue has drained: at full load the relay falls behind the
 * worker, and an unbounded queue would hold the whole backlog in the worker's heap.
 */
export const MAX_HANDED_OFF = 5_000;

/** How long the ids of a table read are remembered (two generations of it): a hand-off of one of them later than that is not expected. */
const READ_IDS_GENERATION_MS = 10_000;

export type Sendable = OutboxRecord & { ageMs: number };

/**
 * The rows the local worker just committed, in commit order, for the leading relay to publish
 * without reading them back.
 *
 *   open        offer() queues the rows
 *   overflowed  an offer found no room: it and every later one are left in the table, so a
 *               key's rows still go out in commit order; once the queue has drained the relay
 *               reads the table (takeDrainedOverflow) and the queue is open again
 *
 * A row may be handed off after a table read already published it (its COMMIT raced the read):
 * the ids of recent reads are refused, and the queued copies of read rows are dropped.
 */
export class HandoffQueue {
  private rows: (OutboxRecord & { at: number })[] = [];
  private overflowed = false;
  private readIds = new Set<string>();
  private readIdsBefore = new Set<string>();
  private readIdsSince = Date.now();

  constructor(private readonly max: number = MAX_HANDED_OFF) {}

  get length(): number {
    return this.rows.length;
  }

  /** Rows wait in the table that the queue refused for room: the relay must keep going until it has read them. */
  get overflowing(): boolean {
    return this.overflowed;
  }

  /** The oldest queued row: its id and when it was handed off. */
  get oldest(): { id: string; at: number } | undefined {
    return this.rows[0];
  }

  offer(records: OutboxRecord[]): void {
    if (this.overflowed || this.rows.length + records.length > this.max) {
      this.overflowed = true;
      return;
    }
    const at = Date.now();
    for (const r of records) if (!this.readIds.has(r.id) && !this.readIdsBefore.has(r.id)) this.rows.push({ ...r, at });
  }

  /** True once after an overflow drained: the table holds the refused rows and must be read now. */
  takeDrainedOverflow(): boolean {
    if (!this.overflowed || this.rows.length > 0) return false;
    this.overflowed = false;
    return true;
  }

  /** Up to `n` rows off the head; rows of `held` keys are dropped (they are in the table too and go after their key's refused row). */
  take(n: number, held: ReadonlySet<string>): Sendable[] {
    const now = Date.now();
    return this.rows
      .splice(0, n)
      .filter((r) => held.size === 0 || !held.has(rowKey(r)))
      .map(({ at, ...r }) => ({ ...r, ageMs: now - at }));
  }

  /** A table read is publishing these rows: their queued copies go, and later hand-offs of them are refused. */
  readFromTable(ids: readonly string[], at: number): void {
    if (at - this.readIdsSince > READ_IDS_GENERATION_MS) {
      this.readIdsBefore = this.readIds;
      this.readIds = new Set();
      this.readIdsSince = at;
    }
    for (const id of ids) this.readIds.add(id);
    if (this.rows.length > 0) {
      const read = new Set(ids);
      this.rows = this.rows.filter((r) => !read.has(r.id));
    }
  }

  /** Drops the queued rows of keys that must wait (a refused or parked row of theirs). */
  dropKeys(held: ReadonlySet<string>): void {
    if (held.size > 0) this.rows = this.rows.filter((r) => !held.has(rowKey(r)));
  }

  /** The relay stopped leading: the next leader reads the table. */
  clear(): void {
    this.rows = [];
    this.overflowed = false;
  }
}
