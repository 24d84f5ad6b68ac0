import type { Redis } from 'ioredis';
import { redisReady } from './client';

const REMEMBER = `for _, k in ipairs(KEYS) do redis.call('SET', k, '1', 'EX', ARGV[1]) end`;

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
      try {
        values = await redis.mget(...group.flatMap((g) => g.ids.map((id) => this.key(id))));
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
   * One command for a whole transaction's ids: a pipeline of one SET per id cost the worker
   * about 3 % of its CPU in ioredis's per-command bookkeeping, and one command per partition
   * batch a socket write and a reply each. Never rejects.
   */
  async remember(ids: string[]): Promise<void> {
    if (ids.length === 0 || !redisReady(this.redis)) return;
    await this.redis.eval(REMEMBER, ids.length, ...ids.map((id) => this.key(id)), this.ttlS).catch(() => undefined);
  }
}
