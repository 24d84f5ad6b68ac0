import type { Redis } from 'ioredis';
import { redisReady } from './client';

/**
 * Fast path for duplicates: ids whose transaction committed are remembered in Redis for a
 * while, so a re-delivery can be acked without touching Postgres. Only committed ids are
 * written (after COMMIT), so a hit is always a true duplicate; a miss proves nothing and the
 * inbox decides. An empty or flushed Redis only costs speed, never correctness.
 */
export class DedupFilter {
  constructor(
    private readonly redis: Redis | undefined,
    private readonly consumer: string,
    private readonly ttlS: number,
  ) {}

  private key(id: string): string {
    return `dedup:${this.consumer}:${id}`;
  }

  async seen(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0 || !redisReady(this.redis)) return new Set();
    try {
      const values = await this.redis.mget(...ids.map((id) => this.key(id)));
      return new Set(ids.filter((_, i) => values[i] !== null));
    } catch {
      return new Set();
    }
  }

  async remember(ids: string[]): Promise<void> {
    if (ids.length === 0 || !redisReady(this.redis)) return;
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.set(this.key(id), '1', 'EX', this.ttlS);
    await pipeline.exec().catch(() => undefined);
  }
}
