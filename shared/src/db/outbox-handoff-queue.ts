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

/** A queued record and when it was handed off. */
interface Queued {
  record: OutboxRecord;
  at: number;
}

/**
 * A record with its age, written out field by field: `{ ...record, ageMs }` (a property added to
 * a spread) takes V8's generic copy, about 1 µs a row against 0.03 µs.
 */
function aged(r: OutboxRecord, ageMs: number): Sendable {
  return { id: r.id, messageId: r.messageId, type: r.type, exchange: r.exchange, routingKey: r.routingKey, mandatory: r.mandatory, properties: r.properties, payload: r.payload, watchExchange: r.watchExchange, watchRoutingKey: r.watchRoutingKey, keyHash: r.keyHash, ageMs };
}

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
  private rows: Queued[] = [];
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
    const head = this.rows[0];
    return head && { id: head.record.id, at: head.at };
  }

  offer(records: OutboxRecord[]): void {
    if (this.overflowed || this.rows.length + records.length > this.max) {
      this.overflowed = true;
      return;
    }
    const at = Date.now();
    for (const r of records) if (!this.readIds.has(r.id) && !this.readIdsBefore.has(r.id)) this.rows.push({ record: r, at });
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
    const out: Sendable[] = [];
    for (const q of this.rows.splice(0, n)) if (held.size === 0 || !held.has(rowKey(q.record))) out.push(aged(q.record, now - q.at));
    return out;
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
      this.rows = this.rows.filter((q) => !read.has(q.record.id));
    }
  }

  /** Drops the queued rows of keys that must wait (a refused or parked row of theirs). */
  dropKeys(held: ReadonlySet<string>): void {
    if (held.size > 0) this.rows = this.rows.filter((q) => !held.has(rowKey(q.record)));
  }

  /** The relay stopped leading: the next leader reads the table. */
  clear(): void {
    this.rows = [];
    this.overflowed = false;
  }
}
