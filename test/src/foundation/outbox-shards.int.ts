import { Client } from 'pg';
import { keyHash, partitionOf, readOutbox } from '@stockflow/shared';
import { TestEnv } from '../support';

/**
 * A row written without its key hash (by hand, by an older writer) is sharded by the PL/pgSQL
 * copy of the hash: it must agree with the JavaScript one on every key, or such a row would be
 * published by the relay of another partition, out of its key's order.
 */
describe('the outbox key hash in SQL', () => {
  let env: TestEnv;
  afterAll(() => env?.cleanup());

  it('is the JavaScript keyHash() on every kind of key', async () => {
    env = await TestEnv.create('outbox-shards');
    const keys = ['', 'a', 'q', 'sku-1|wh-1', 'order-00042', 'message:9f2c', 'ümlaut-ß', '日本語のキー', '🙂 emoji', 'x'.repeat(300)];
    for (let i = 0; i < 200; i++) keys.push(`k-${i}-${(i * 7919).toString(36)}`);
    const rows = await env.query<{ k: string; h: string }>(`SELECT k, inventory.outbox_key_hash(k) AS h FROM unnest($1::text[]) AS k`, [keys]);
    expect(rows.map((r) => [r.k, Number(r.h)])).toEqual(keys.map((k) => [k, keyHash(k)]));
  });

  it("shards a row written without it by its key, on the relay's read", async () => {
    const P = env.topology.partitions;
    const key = 'sku-9|wh-1';
    await env.query(`INSERT INTO inventory.outbox (message_id, type, exchange, routing_key, properties, payload) VALUES ('m-1', 'StockReceived', 'x', 'y', $1, '{}')`, [{ headers: { 'x-partition-key': key } }]);
    const client = new Client({ connectionString: env.databaseUrl });
    await client.connect();
    try {
      const read = (shards: number[]) => readOutbox(client, 'inventory', { limit: 10, held: new Set(), due: [], scope: { partitions: P, shards } });
      const own = partitionOf(key, P);
      expect((await read([own])).map((r) => [r.messageId, r.keyHash])).toEqual([['m-1', keyHash(key)]]);
      expect(await read(Array.from({ length: P }, (_, i) => i).filter((s) => s !== own))).toEqual([]);
    } finally {
      await client.end();
    }
  });
});
