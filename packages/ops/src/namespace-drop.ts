import { Client } from 'pg';
import { deleteNamespaceKeys, liveMembers, WORKER_KINDS } from '@stockflow/shared';
import type { OpsContext } from './context';

/** What `ops namespace drop` removes: a deployment's broker objects, Redis keys and, asked, its database. */
export interface DropPlan {
  namespace: string;
  queues: { name: string; messages: number }[];
  exchanges: string[];
  redisKeys: number;
  /** The database of DATABASE_URL, when --database was given. */
  database: string | null;
  /** Worker instances still holding leases in the namespace: dropping under them is refused. */
  liveInstances: string[];
}

/** Databases no deployment owns. */
const NEVER_DROPPED = ['postgres', 'template0', 'template1'];

async function countKeys(ctx: OpsContext): Promise<number> {
  // The client's key prefix is not applied to SCAN's MATCH: match the full names.
  const redis = await ctx.redis();
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${ctx.namespace}:*`, 'COUNT', 10_000);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

export async function planDrop(ctx: OpsContext, opts: { database: boolean }): Promise<DropPlan> {
  const prefix = `${ctx.namespace}.`;
  const [queues, exchanges, redisKeys] = await Promise.all([ctx.management.queues(prefix), ctx.management.exchanges(prefix), countKeys(ctx)]);
  const redis = await ctx.redis();
  const liveInstances = (await Promise.all(WORKER_KINDS.map((k) => liveMembers(redis, k)))).flat().map((m) => m.instance);
  const database = opts.database ? decodeURIComponent(new URL(ctx.config.databaseUrl).pathname.replace(/^\//, '')) : null;
  if (database !== null && (database === '' || NEVER_DROPPED.includes(database))) throw new Error(`DATABASE_URL names '${database || '(none)'}', which no deployment owns: not dropping it`);
  return { namespace: ctx.namespace, queues: queues.map((q) => ({ name: q.name, messages: q.messages })), exchanges, redisKeys, database, liveInstances };
}

/** Deletes what the plan lists. Each step tolerates what is already gone. */
export async function drop(ctx: OpsContext, plan: DropPlan): Promise<void> {
  const conn = await ctx.amqp();
  const ch = await conn.createChannel();
  try {
    for (const q of plan.queues) await ch.deleteQueue(q.name);
    for (const e of plan.exchanges) await ch.deleteExchange(e);
  } finally {
    await ch.close().catch(() => undefined);
  }
  await deleteNamespaceKeys(ctx.config.redisUrl, plan.namespace);
  if (plan.database !== null) {
    await ctx.close();
    const admin = new URL(ctx.config.databaseUrl);
    admin.pathname = '/postgres';
    const client = new Client({ connectionString: admin.toString(), application_name: 'stockflow:ops' });
    await client.connect();
    try {
      // FORCE ends the sessions still open on it (a psql left open, a stopped worker's pool).
      await client.query(`DROP DATABASE IF EXISTS "${plan.database.replace(/"/g, '""')}" WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
}

export function describePlan(plan: DropPlan): string {
  const messages = plan.queues.reduce((a, q) => a + q.messages, 0);
  return [
    `namespace '${plan.namespace}':`,
    `  ${plan.queues.length} queue(s) holding ${messages} message(s), ${plan.exchanges.length} exchange(s)`,
    `  ${plan.redisKeys} Redis key(s) under '${plan.namespace}:'`,
    plan.database === null ? '  database: kept (add --database to drop the one in DATABASE_URL)' : `  database '${plan.database}'`,
  ].join('\n');
}
