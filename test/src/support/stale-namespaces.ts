import { Redis } from 'ioredis';
import { deleteNamespaceKeys } from '@stockflow/shared';
import { adminQuery } from '@stockflow/testkit/support/template-db';

const MGMT = process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672';
const PREFIXES = /^(t|fl|bench)-[a-z0-9-]+$/;
const SUSPECTS = 'stockflow-tests:stale-suspects';

async function mgmt<T>(path: string, method = 'GET'): Promise<T> {
  const url = new URL(path, MGMT);
  const auth = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
  url.username = '';
  url.password = '';
  const res = await fetch(url, { method, headers: { authorization: `Basic ${auth}` }, signal: AbortSignal.timeout(10_000) });
  if (!res.ok && res.status !== 404) throw new Error(`${method} ${path}: ${res.status}`);
  return (method === 'GET' ? await res.json() : undefined) as T;
}

/**
 * Test, flood and bench runs that were killed before their cleanup leave queues behind, and
 * hundreds of idle quorum queues cost the broker file handles (once it ran out and stopped
 * accepting connections). A namespace whose queues have had no consumer at two looks at least
 * `graceMs` apart is removed: queues, exchanges, Redis keys and its test database. Best effort;
 * runs at the start of every jest run.
 */
export async function removeStaleNamespaces(redisUrl: string, serverUrl: string, graceMs = 10 * 60_000): Promise<string[]> {
  const queues = await mgmt<{ name: string; consumers?: number }[]>('/api/queues?columns=name,consumers');
  const exchanges = await mgmt<{ name: string }[]>('/api/exchanges?columns=name');
  const consumers = new Map<string, number>();
  for (const q of queues) {
    const ns = q.name.split('.')[0]!;
    if (PREFIXES.test(ns)) consumers.set(ns, (consumers.get(ns) ?? 0) + (q.consumers ?? 0));
  }
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const removed: string[] = [];
  try {
    const seen = await redis.hgetall(SUSPECTS);
    const now = Date.now();
    for (const [ns, n] of consumers) {
      if (n > 0) {
        await redis.hdel(SUSPECTS, ns);
        continue;
      }
      const since = Number(seen[ns] ?? 0);
      if (!since) {
        await redis.hset(SUSPECTS, ns, String(now));
        continue;
      }
      if (now - since < graceMs) continue;
      for (const q of queues.filter((q) => q.name.startsWith(`${ns}.`))) await mgmt(`/api/queues/%2F/${encodeURIComponent(q.name)}`, 'DELETE');
      for (const e of exchanges.filter((e) => e.name.startsWith(`${ns}.`))) await mgmt(`/api/exchanges/%2F/${encodeURIComponent(e.name)}`, 'DELETE');
      await deleteNamespaceKeys(redisUrl, ns);
      await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "sf_${ns.replace(/-/g, '_')}" WITH (FORCE)`).catch(() => undefined);
      await redis.hdel(SUSPECTS, ns);
      removed.push(ns);
    }
    for (const ns of Object.keys(seen)) if (!consumers.has(ns)) await redis.hdel(SUSPECTS, ns);
  } finally {
    redis.disconnect();
  }
  return removed;
}
