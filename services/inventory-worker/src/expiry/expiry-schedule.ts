import { redisReady } from '@stockflow/shared';
import type { Redis } from 'ioredis';

/**
 * Redis sorted set of held reservations scored by expires_at (ms). Only a timer: the
 * reservation row in Postgres decides; when Redis loses this set the sweep takes over.
 */
export class ExpirySchedule {
  static readonly KEY = 'inventory:expiry';

  /** `redis` is a getter: the client exists only once the worker has started. */
  constructor(private readonly client: () => Redis | undefined) {}

  private get redis(): Redis | undefined {
    return this.client();
  }

  async add(reservationId: string, expiresAt: Date): Promise<void> {
    if (!redisReady(this.redis)) return;
    await this.redis.zadd(ExpirySchedule.KEY, expiresAt.getTime(), reservationId);
  }

  /** Takes closed holds off the schedule, so nothing wakes up for them when they would have been due. */
  async remove(reservationId: string): Promise<void> {
    if (!redisReady(this.redis)) return;
    await this.redis.zrem(ExpirySchedule.KEY, reservationId);
  }

  /**
   * Atomically takes up to `limit` due ids off the schedule, so that of several instances
   * only one sends the ExpireReservation for a given due id.
   */
  async takeDue(now: number, limit: number): Promise<string[]> {
    if (!redisReady(this.redis)) return [];
    const ids = (await this.redis.eval(
      `local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
       if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
       return ids`,
      1,
      ExpirySchedule.KEY,
      String(now),
      String(limit),
    )) as string[];
    return ids;
  }

  async size(): Promise<number> {
    if (!redisReady(this.redis)) return 0;
    return this.redis.zcard(ExpirySchedule.KEY);
  }
}
