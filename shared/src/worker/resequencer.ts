import type { Delivery, DeliveryOrder, Selection } from '../amqp/partition-consumer';
import { HEADER } from '@stockflow/client/internal';
import { streamId, type SequenceStream } from '../db/inbox';
import type { Logger } from '../logger';

/** Highest sequence already applied per stream, by streamId (streams never seen are absent). */
export type SequenceLookup = (streams: SequenceStream[]) => Promise<Map<string, number>>;

export interface ResequencerOptions {
  lookup: SequenceLookup;
  /** How long a delivery waits for a missing predecessor before it is applied anyway. */
  gapWaitMs: number;
  log: Logger;
  partition: number;
  /** Called when a gap is given up on (the predecessor never came in time). */
  onGap?(): void;
  /** Keys remembered per partition before the oldest are forgotten (and looked up again). */
  maxKeys?: number;
  now?: () => number;
}

interface Tagged {
  d: Delivery;
  /** The sequence stream (partition key and publisher session), as streamId(). */
  key: string | undefined;
  stream: SequenceStream | undefined;
  seq: number | undefined;
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
}

function sequenceOf(d: Delivery): Tagged {
  const h = d.msg.properties.headers ?? {};
  const partitionKey = text(h[HEADER.partitionKey]);
  const raw: unknown = h[HEADER.sequence];
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (partitionKey === undefined || !Number.isSafeInteger(n) || n <= 0) return { d, key: undefined, stream: undefined, seq: undefined };
  const stream = { key: partitionKey, session: text(h[HEADER.sequenceSession]) ?? '' };
  return { d, key: streamId(stream), stream, seq: n };
}

/**
 * Puts a partition's deliveries back into per-key sequence order before they are applied.
 *
 * The broker keeps a queue's order only until a message is returned twice: a quorum queue
 * serves returned messages from a FIFO list, so a message returned again (its consumer died
 * once more while holding it) lands behind the ones returned with it the first time, and a
 * key's sequence 53 arrives after 54–58. Publishers number each key's messages 1, 2, 3 …
 * within a session of their own (x-sequence-session: a restarted or second publisher starts a
 * new numbering, which is ordered on its own), so a gap is visible: a delivery whose predecessor has not been applied is held (unacked, its
 * key's later deliveries behind it) while the rest of the partition flows, and is released
 * when the predecessor arrives. A predecessor that never comes (dead-lettered, or a publisher
 * that skips numbers) costs at most `gapWaitMs`; so does a buffer that is full of held
 * deliveries, since nothing more can arrive. Deliveries without a sequence are never held.
 *
 * Applied sequences come from the inbox (the truth, looked up once per key and session and
 * subscription; retention keeps each stream's newest row, so a purge makes no false gap) and
 * from what this consumer acked since. Not repaired: the order between two sessions of one key
 * (a message of the older one returned twice behind the newer one's): nothing numbers across
 * a publisher's restart unless the publisher keeps its session and counters itself.
 */
export class Resequencer implements DeliveryOrder {
  private applied = new Map<string, number>();
  private readonly heldSince = new Map<Delivery, number>();
  private readonly now: () => number;

  constructor(private readonly opts: ResequencerOptions) {
    this.now = opts.now ?? (() => Date.now());
  }

  reset(): void {
    this.applied = new Map();
    this.heldSince.clear();
  }

  consumed(deliveries: readonly Delivery[]): void {
    for (const d of deliveries) {
      this.heldSince.delete(d);
      const { key, seq } = sequenceOf(d);
      if (key === undefined || seq === undefined) continue;
      const prev = this.applied.get(key) ?? 0;
      // Re-insert so the Map's order is least-recently used first.
      this.applied.delete(key);
      this.applied.set(key, Math.max(prev, seq));
    }
    const max = this.opts.maxKeys ?? 10_000;
    for (const key of this.applied.keys()) {
      if (this.applied.size <= max) break;
      this.applied.delete(key);
    }
  }

  async select(buffer: readonly Delivery[], opts: { max: number; full: boolean }): Promise<Selection> {
    const tagged = buffer.map(sequenceOf);
    // Sequence 1 needs no look-up: nothing can come before it.
    const unknown = new Map<string, SequenceStream>();
    for (const t of tagged) if (t.seq !== undefined && t.seq > 1 && !this.applied.has(t.key!)) unknown.set(t.key!, t.stream!);
    if (unknown.size > 0) {
      const found = await this.opts.lookup([...unknown.values()]);
      for (const key of unknown.keys()) if (!this.applied.has(key)) this.applied.set(key, found.get(key) ?? 0);
    }

    const now = this.now();
    const expected = new Map<string, number>();
    const blocked = new Set<string>();
    const take: Delivery[] = [];
    let retryInMs: number | undefined;
    for (const t of inKeyOrder(tagged)) {
      if (take.length >= opts.max) break;
      if (t.key === undefined || t.seq === undefined) {
        take.push(t.d);
        continue;
      }
      if (blocked.has(t.key)) continue;
      const last = expected.get(t.key) ?? this.applied.get(t.key) ?? 0;
      const since = this.heldSince.get(t.d);
      if (t.seq > last + 1 && !opts.full && (since === undefined || now - since < this.opts.gapWaitMs)) {
        blocked.add(t.key);
        this.heldSince.set(t.d, since ?? now);
        retryInMs = Math.min(retryInMs ?? Infinity, (since ?? now) + this.opts.gapWaitMs - now);
        continue;
      }
      if (t.seq > last + 1) {
        this.opts.onGap?.();
        this.opts.log.warn(
          { partition: this.opts.partition, partitionKey: t.stream!.key, sequenceSession: t.stream!.session, sequence: t.seq, expected: last + 1, messageId: t.d.msg.properties.messageId, heldMs: since === undefined ? 0 : now - since, bufferFull: opts.full },
          'sequence gap: applying without the missing predecessor',
        );
      }
      expected.set(t.key, Math.max(last, t.seq));
      take.push(t.d);
    }
    return { take, retryInMs: retryInMs === undefined ? undefined : Math.max(1, retryInMs) };
  }
}

/**
 * The buffer with each key's deliveries sorted by sequence among that key's own slots; other
 * keys and unsequenced deliveries keep their places. Sorting is stable, so duplicates keep
 * their arrival order.
 */
function inKeyOrder(tagged: Tagged[]): Tagged[] {
  const slots = new Map<string, number[]>();
  tagged.forEach((t, i) => {
    if (t.key === undefined || t.seq === undefined) return;
    const s = slots.get(t.key);
    if (s) s.push(i);
    else slots.set(t.key, [i]);
  });
  const out = [...tagged];
  for (const idx of slots.values()) {
    if (idx.length < 2) continue;
    const sorted = idx.map((i) => tagged[i]!).sort((a, b) => a.seq! - b.seq!);
    idx.forEach((slot, j) => (out[slot] = sorted[j]!));
  }
  return out;
}
