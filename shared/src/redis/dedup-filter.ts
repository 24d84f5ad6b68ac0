import type { Redis } from 'ioredis';
import { redisReady } from './client';

const REMEMBER = `for _, k in ipairs(KEYS) do redis.call('SET', k, '1', 'EX', ARGV[1]) end`;

/**
 * Committed ids wait this long for a lookup to travel with before they go on their own. Below
 * full load a partition's next batch usually asks within a few milliseconds.
 */
const REMEMBER_WAIT_MS = 20;

/**
 * Fast path for duplicates: ids whose transaction committed are remembered in Redis for a
 * while, so a re-delivery can be acked without touching Postgres. Only committed ids are
 * written (after COMMIT), so a hit is always a true duplicate; a miss proves nothing and the
 * inbox decides. An empty or flushed Redis only costs speed, never correctness.
 */
export class DedupFilter {
  /** Lookups asked for while one is on its way; they go together in the next MGET. */
  private waiting: { ids: string[]; resolve(hits: Set<string>): void }[] = [];
  private looking = false;
  /** Committed ids not yet sent (see remember). */
  private unsent: string[] = [];
  private unsentTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis | undefined,
    private readonly consumer: string,
    private readonly ttlS: number,
  ) {}

  private key(id: string): string {
    return `dedup:${this.consumer}:${id}`;
  }

  /**
   * The ids of `ids` that Redis knows as committed. Every partition batch asks before it joins a
   * transaction, and below full load a batch is a message or two: one MGET each was a socket
   * write and a reply per batch (a tenth of the worker's time at half load). A lookup asked for
   * while another is on its way waits for it and then goes with all others that came meanwhile,
   * in one MGET: no wait when the worker is quiet, one round trip at most when it is busy.
   * Never rejects: a failure is a miss.
   */
  seen(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0 || !redisReady(this.redis)) return Promise.resolve(new Set());
    return new Promise((resolve) => {
      this.waiting.push({ ids, resolve });
      if (!this.looking) void this.lookUp(this.redis!);
    });
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
          const replies = await redis.pipeline().eval(REMEMBER, remembered.length, ...remembered, this.ttlS).mget(...keys).exec();
          values = (replies?.[1]?.[1] as (string | null)[] | undefined) ?? [];
        }
      } catch {
        // A miss for all of them; whatever failed, the lookups behind must not wait forever.
      }
      let i = 0;
      for (const g of group) {
        const hits = new Set<string>();
        for (const id of g.ids) if ((values[i++] ?? null) !== null) hits.add(id);
        g.resolve(hits);
      }
    }
    this.looking = false;
  }

  /**
   * Ids of a committed transaction. They go with the next lookup's MGET, in the same write, or
   * on their own after REMEMBER_WAIT_MS: a command of their own per transaction was a socket
   * write and a reply each, about one in seven of the worker's writes below full load. Never
   * throws; a lost write only makes the fast path miss.
   */
  remember(ids: string[]): void {
    if (ids.length === 0 || !redisReady(this.redis)) return;
    for (const id of ids) this.unsent.push(this.key(id));
    this.unsentTimer ??= setTimeout(() => void this.flush(), REMEMBER_WAIT_MS).unref();
  }

  /** Sends what waits to be remembered now (on stop: the timer would find Redis closed). */
  async flush(): Promise<void> {
    const keys = this.takeUnsent();
    if (keys.length > 0 && redisReady(this.redis)) await this.redis.eval(REMEMBER, keys.length, ...keys, this.ttlS).catch(() => undefined);
  }

  /** The keys waiting to be remembered, now taken by whoever sends them. */
  private takeUnsent(): string[] {
    const keys = this.unsent;
    this.unsent = [];
    clearTimeout(this.unsentTimer);
    this.unsentTimer = undefined;
    return keys;
  }
}
