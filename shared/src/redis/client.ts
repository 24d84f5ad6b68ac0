import { Redis } from 'ioredis';
import type { Logger } from '../logger';

/**
 * Redis is an accelerator here, never the source of truth: commands fail fast instead of
 * queueing while it is down (enableOfflineQueue: false), and every caller treats a failure
 * as "Redis knows nothing" and falls back to Postgres.
 */
export function createRedis(url: string, namespace: string, log: Logger, name = 'stockflow'): Redis {
  const redis = new Redis(url, {
    keyPrefix: `${namespace}:`,
    connectionName: name,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * times, 2000),
  });
  let warned = false;
  redis.on('error', (err: Error) => {
    if (!warned) log.warn({ err: err.message }, 'redis unavailable; continuing without it');
    warned = true;
  });
  redis.on('ready', () => {
    if (warned) log.info('redis reachable again');
    warned = false;
  });
  return redis;
}

export function redisReady(redis: Redis | undefined): redis is Redis {
  return redis !== undefined && redis.status === 'ready';
}
