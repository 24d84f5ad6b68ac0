import { newSequenceSession } from './contracts';

/**
 * A publisher's numbering of each partition key's messages (1, 2, 3 …) within a session of its
 * own, which the workers use to put a key's messages back in order after a redelivery.
 *
 * - A message sent again (a retry after a timeout) keeps the number it had: a new one would
 *   leave a gap the worker waits for, since only the dropped duplicate ever carried it.
 * - Numbers are counted per session and key; a caller's own session has its own counters.
 * - Memory is bounded: past MAX_KEYS keys the publisher starts a new session (the workers order
 *   within a session, and a new one starts at 1 for every key), and only the last
 *   REMEMBERED_IDS message ids keep their number.
 */
const MAX_KEYS = 100_000;
const REMEMBERED_IDS = 10_000;

export class KeySequences {
  private last = new Map<string, number>();
  private byId = new Map<string, number>();
  private own = newSequenceSession();

  /** This publisher's session id (it changes when the key table is full). */
  get session(): string {
    return this.own;
  }

  /**
   * The number of `messageId` on `key` in `session` (default: this publisher's own): the one it
   * had, or the next. `take` records it (a send); without it nothing changes (a preview).
   */
  number(key: string, messageId: string, session: string | undefined, take: boolean): { sequence: number; session: string } {
    if (take && session === undefined && this.last.size >= MAX_KEYS) this.renew();
    const s = session ?? this.own;
    const counter = `${s}\n${key}`;
    const id = `${counter}\n${messageId}`;
    const sequence = this.byId.get(id) ?? (this.last.get(counter) ?? 0) + 1;
    if (take) {
      if (sequence > (this.last.get(counter) ?? 0)) this.last.set(counter, sequence);
      this.byId.delete(id);
      this.byId.set(id, sequence);
      if (this.byId.size > REMEMBERED_IDS) this.byId.delete(this.byId.keys().next().value!);
    }
    return { sequence, session: s };
  }

  private renew(): void {
    this.own = newSequenceSession();
    this.last = new Map();
    this.byId = new Map();
  }
}
