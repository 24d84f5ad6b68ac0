import { readdirSync, readFileSync } from 'node:fs';
import * as amqp from 'amqplib';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { ManagementApi, managementUrlOf } from '@stockflow/ops';
import { LOCAL_DEFAULTS } from './services';
import { dropDatabase, withDatabase } from '@stockflow/testkit/support/template-db';

/**
 * What a run in namespace `ns` left on the services: its database sf_<ns> (flood and bench
 * runs name theirs so), the queues and exchanges named `<ns>.…`, the Redis keys `<ns>:…`.
 * Cleanup tests assert it is empty; their afterEach removes whatever a failing one left.
 */
export interface Leftovers {
  database: string | undefined;
  queues: string[];
  exchanges: string[];
  redisKeys: number;
}

export const NOTHING_LEFT: Leftovers = { database: undefined, queues: [], exchanges: [], redisKeys: 0 };

function urls() {
  return {
    databaseUrl: process.env.DATABASE_URL || LOCAL_DEFAULTS.DATABASE_URL,
    amqpUrl: process.env.AMQP_URL || LOCAL_DEFAULTS.AMQP_URL,
    redisUrl: process.env.REDIS_URL || LOCAL_DEFAULTS.REDIS_URL,
  };
}

export function databaseOf(namespace: string): string {
  return `sf_${namespace.replace(/-/g, '_')}`;
}

export async function leftoversOf(namespace: string, database = databaseOf(namespace)): Promise<Leftovers> {
  const { databaseUrl, amqpUrl, redisUrl } = urls();
  const mgmt = new ManagementApi(managementUrlOf(amqpUrl, process.env.RABBITMQ_MANAGEMENT_URL ?? process.env.MANAGEMENT_URL), amqpUrl);
  const pg = new Client({ connectionString: withDatabase(databaseUrl, 'postgres') });
  await pg.connect();
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  try {
    const [db, queues, exchanges, keys] = await Promise.all([
      pg.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = $1', [database]),
      mgmt.queues(`${namespace}.`),
      mgmt.exchanges(`${namespace}.`),
      countKeys(redis, `${namespace}:*`),
    ]);
    return { database: db.rows[0]?.datname, queues: queues.map((q) => q.name).sort(), exchanges: exchanges.sort(), redisKeys: keys };
  } finally {
    await pg.end();
    redis.disconnect();
  }
}

async function countKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 10_000);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

/** Removes whatever `leftoversOf` finds, so a failing cleanup test does not leak in turn. */
export async function removeLeftovers(namespace: string, database = databaseOf(namespace)): Promise<void> {
  const left = await leftoversOf(namespace, database);
  const { databaseUrl, amqpUrl, redisUrl } = urls();
  if (left.queues.length > 0 || left.exchanges.length > 0) {
    const conn = await amqp.connect(amqpUrl);
    try {
      const ch = await conn.createChannel();
      for (const q of left.queues) await ch.deleteQueue(q);
      for (const e of left.exchanges) await ch.deleteExchange(e);
      await ch.close();
    } finally {
      await conn.close();
    }
  }
  if (left.redisKeys > 0) {
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 10_000);
        cursor = next;
        if (keys.length > 0) await redis.unlink(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }
  if (left.database) await dropDatabase(databaseUrl, left.database);
}

/** Pids of every live descendant of `pid` (children, their children, …), from /proc. */
export function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat && stat.state !== 'Z') parentOf.set(Number(name), stat.ppid);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

/** Whether `pid` still runs (a zombie, exited but not yet reaped, does not). */
export function isAlive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

function procStat(pid: number): { state: string; ppid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, ppid: Number(fields[1]) };
}
