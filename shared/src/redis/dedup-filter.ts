import type { Redis } from 'ioredis';
import { MESSAGE_ID_PATTERN } from '@stockflow/client/internal';
import { redisReady } from './client';

/** KEYS: the ids' keys; ARGV: the TTL, then each id's fingerprint in KEYS' order. */
const REMEMBER = `for i, k in ipairs(KEYS) do redis.call('SET', k, ARGV[i + 1], 'EX', ARGV[1]) end`;

/**
 * Committed ids wait this long for a lookup to travel with before they go on their own. Below
 * full load a partition's next batch usually asks within a few milliseconds.
 */
const REMEMBER_WAIT_MS = 20;

/**
 * How long Redis remembers a committed message id: the window in which a duplicate is acked
 * without Postgres; later ones fall through to the inbox, which is the truth.
 */
export const DEDUP_TTL_S = 3600;

/**
 * Fast path for duplicates: ids whose transaction committed are remembered in Redis for a
 * while, with the fingerprint they were applied with, so a re-delivery can be acked without
 * touching Postgres. Only committed ids are written (after COMMIT), so a hit is a true
 * duplicate: the caller counts one only when the fingerprint matches (the same id with another
 * payload goes to the inbox, which refuses it as a reuse). A miss proves nothing and the inbox
 * decides. An empty or flushed Redis only costs speed, never correctness.
 *
 * Keys carry the database's identity scope (db/identity.ts): a Redis that outlived its
 * database (dropped and made again, restored, failed over, or a namespace reused by another
 * deployment) holds keys under another scope, which this worker never reads, so it cannot
 * vouch for ids this database never applied.
 */
export class DedupFilter {
  /** Lookups asked for while one is on its way; they go together in the next MGET. */
  private waiting: { ids: string[]; resolve(hits: Map<string, string>): void }[] = [];
  private looking = false;
  /** Committed ids' keys and fingerprints not yet sent (see remember). */
  private unsent: { key: string; fingerprint: string }[] = [];
  private unsentTimer: NodeJS.Timeout | undefined;
  /** The lookup each arrived message got (lookAhead), by the object that stands for its delivery. */
  private readonly early = new WeakMap<object, Promise<Map<string, string>>>();
  /** Arrived in this turn of the event loop; looked up together. */
  private arriving: { key: object; id: string }[] = [];

  constructor(
    private readonly redis: Redis | undefined,
    private readonly consumer: string,
    private readonly ttlS: number,
    /** The database's identity scope (DatabaseIdentity.scope). */
    private readonly scope: string,
  ) {}

  private key(id: string): string {
    return `dedup:${this.scope}:${this.consumer}:${id}`;
  }

  /**
   * The ids of `ids` that Redis knows as committed, with the fingerprint each was applied with.
   * Every partition batch asks before it joins a transaction, and below full load a batch is a
   * message or two: one MGET each would be a socket write and a reply per batch, a large share
   * of a quiet worker's time. A lookup asked for
   * while another is on its way waits for it and then goes with all others that came meanwhile,
   * in one MGET: no wait when the worker is quiet, one round trip at most when it is busy.
   * Never rejects: a failure is a miss.
   */
  seen(ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0 || !redisReady(this.redis)) return Promise.resolve(new Map<string, string>());
    return new Promise((resolve) => {
      this.waiting.push({ ids, resolve });
      if (!this.looking) void this.lookUp(this.redis!);
    });
  }

  /**
   * Starts the lookup of a message as its delivery arrives, for seenAmong() to find later.
   * Below full load a delivery waits behind its partition's batch in the running transaction;
   * looked up only when its own batch started, it would spend a Redis round trip between that
   * commit and joining the next transaction, and so miss it (GroupCommit starts the next one a
   * turn after a commit, for the batches ready by then). A lookup made early can only miss
   * more: an id committed after it is not seen, and the inbox claim absorbs the copy.
   * `id` is the delivery's raw message id: one that decoding will reject is not worth a key.
   */
  lookAhead(key: object, id: unknown): void {
    if (typeof id !== 'string' || !MESSAGE_ID_PATTERN.test(id)) return;
    if (this.arriving.length === 0) setImmediate(() => this.lookUpArrived());
    this.arriving.push({ key, id });
  }

  private lookUpArrived(): void {
    if (this.arriving.length === 0) return;
    const arrived = this.arriving;
    this.arriving = [];
    const lookup = this.seen(arrived.map((a) => a.id));
    for (const a of arrived) this.early.set(a.key, lookup);
  }

  /**
   * The fingerprint Redis holds for each message of a batch it knows as committed: from the
   * lookups started on arrival, and one now for the rest. Per message, not per id: a copy and a
   * reuse of one id may share a batch, and only the copy is a duplicate (the caller compares
   * fingerprints; the inbox refuses the reuse).
   */
  async seenAmong<K extends object>(messages: { key: K; id: string }[]): Promise<Map<K, string>> {
    this.lookUpArrived();
    const pending = new Set<Promise<Map<string, string>>>();
    const rest: string[] = [];
    for (const m of messages) {
      const early = this.early.get(m.key);
      if (early) pending.add(early);
      else rest.push(m.id);
    }
    if (rest.length > 0) pending.add(this.seen(rest));
    const remembered = new Map<string, string>();
    for (const hits of await Promise.all(pending)) for (const [id, fingerprint] of hits) remembered.set(id, fingerprint);
    const found = new Map<K, string>();
    for (const m of messages) {
      const fingerprint = remembered.get(m.id);
      if (fingerprint !== undefined) found.set(m.key, fingerprint);
    }
    return found;
  }

  private async lookUp(redis: Redis): Promise<void> {
    this.looking = true;
    while (this.waiting.length > 0) {
      const group = this.waiting;
      this.waiting = [];
      let values: (string | null)[] = [];
      const keys = group.flatMap((g) => g.ids.map((id) => this.key(id)));
      const remembered = this.takeUnsent();
      try {
        if (remembered.length === 0) values = await redis.mget(...keys);
        else {
          // One write: the ids committed lately, then the lookup (which so sees them too).
          const replies = await redis.pipeline().eval(REMEMBER, remembered.length, ...rememberArgs(remembered, this.ttlS)).mget(...keys).exec();
          values = (replies?.[1]?.[1] as (string | null)[] | undefined) ?? [];
        }
      } catch {
        // A miss for all of them; whatever failed, the lookups behind must not wait forever.
      }
      let i = 0;
      for (const g of group) {
        const hits = new Map<string, string>();
        for (const id of g.ids) {
          const v = values[i++] ?? null;
          if (v !== null) hits.set(id, v);
        }
        g.resolve(hits);
      }
    }
    this.looking = false;
  }

  /**
   * Ids of a committed transaction. They go with the next lookup's MGET, in the same write, or
   * on their own after REMEMBER_WAIT_MS: a command of their own per transaction would be a
   * socket write and a reply each, a large share of the worker's writes below full load. Never
   * throws; a lost write only makes the fast path miss.
   */
  remember(applied: { id: string; fingerprint: string }[]): void {
    if (applied.length === 0 || !redisReady(this.redis)) return;
    for (const a of applied) this.unsent.push({ key: this.key(a.id), fingerprint: a.fingerprint });
    this.unsentTimer ??= setTimeout(() => void this.flush(), REMEMBER_WAIT_MS).unref();
  }

  /** Sends what waits to be remembered now (on stop: the timer would find Redis closed). */
  async flush(): Promise<void> {
    const keys = this.takeUnsent();
    if (keys.length > 0 && redisReady(this.redis)) await this.redis.eval(REMEMBER, keys.length, ...rememberArgs(keys, this.ttlS)).catch(() => undefined);
  }

  /** The keys waiting to be remembered, now taken by whoever sends them. */
  private takeUnsent(): { key: string; fingerprint: string }[] {
    const keys = this.unsent;
    this.unsent = [];
    clearTimeout(this.unsentTimer);
    this.unsentTimer = undefined;
    return keys;
  }
}

/** EVAL arguments of REMEMBER: the keys, the TTL, then the fingerprints. */
function rememberArgs(entries: { key: string; fingerprint: string }[], ttlS: number): (string | number)[] {
  return [...entries.map((e) => e.key), ttlS, ...entries.map((e) => e.fingerprint)];
}
