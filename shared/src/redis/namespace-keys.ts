import { Redis } from 'ioredis';

/**
 * Deletes every key of a namespace (`<namespace>:*`): what tests, the bench and the flood
 * leave behind (the duplicate filter keeps one key per message id for an hour). SCAN
 * walks the whole keyspace, so a large COUNT keeps the round trips few when other
 * namespaces hold many keys. Returns how many keys went.
 */
export async function deleteNamespaceKeys(redisUrl: string, namespace: string): Promise<number> {
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await client.connect();
  try {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 20_000);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    client.disconnect();
  }
}
