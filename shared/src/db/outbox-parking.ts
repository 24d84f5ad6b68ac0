import type { Client } from 'pg';
import type { OutboxRow } from './outbox';
import { ROW_KEY_SQL, shardCondition, type ShardScope } from './outbox-shards';

/**
 * The SQL of parked outbox rows (`<schema>.outbox_parked`, see relayTablesMigration). Only the
 * relay that leads moves rows in and out; `ops outbox` only lists, asks for an early retry and
 * discards, so a parked key never has rows in both tables.
 */

const COLUMNS = 'id, message_id, type, exchange, routing_key, mandatory, properties, payload, created_at, watch_exchange, watch_routing_key';

export interface ParkedHead extends OutboxRow {
  id: string;
  partitionKey: string;
  attempts: number;
  ageMs: number;
}

/**
 * Parks a key: its head row (the one the broker kept refusing, `reason`) and every later row of
 * the key still in the outbox, in one statement. Rows the relay already published must be
 * deleted first (they are not the key's to wait for). Returns how many rows moved.
 */
export async function parkKey(client: Client, schema: string, key: string, head: { id: string; reason: string; attempts: number; retryInMs: number }): Promise<number> {
  const res = await client.query(
    `WITH moved AS (DELETE FROM "${schema}".outbox WHERE ${ROW_KEY_SQL} = $1 RETURNING ${COLUMNS})
     INSERT INTO "${schema}".outbox_parked (${COLUMNS}, partition_key, reason, attempts, retry_at)
     SELECT ${COLUMNS}, $1,
            CASE WHEN id = $2::bigint THEN $3 ELSE 'behind_parked' END,
            CASE WHEN id = $2::bigint THEN $4::int ELSE 0 END,
            CASE WHEN id = $2::bigint THEN now() + $5 * interval '1 millisecond' END
     FROM moved ON CONFLICT (id) DO NOTHING`,
    [key, head.id, head.reason.slice(0, 500), head.attempts, head.retryInMs],
  );
  return res.rowCount ?? 0;
}

/** Rows of parked keys that reached the outbox since: they wait behind their key's head. */
export async function parkFollowers(client: Client, schema: string, keys: string[]): Promise<number> {
  if (keys.length === 0) return 0;
  const res = await client.query(
    `WITH moved AS (DELETE FROM "${schema}".outbox WHERE ${ROW_KEY_SQL} = ANY($1::text[]) RETURNING ${COLUMNS})
     INSERT INTO "${schema}".outbox_parked (${COLUMNS}, partition_key, reason)
     SELECT ${COLUMNS}, ${ROW_KEY_SQL}, 'behind_parked' FROM moved ON CONFLICT (id) DO NOTHING`,
    [keys],
  );
  return res.rowCount ?? 0;
}

export async function parkedKeys(client: Client, schema: string, scope?: ShardScope): Promise<Set<string>> {
  const params: unknown[] = [];
  const res = await client.query<{ partition_key: string }>(`SELECT DISTINCT partition_key FROM "${schema}".outbox_parked WHERE ${shardCondition(`"${schema}".outbox_key_hash(partition_key)`, scope, params)}`, params);
  return new Set(res.rows.map((r) => r.partition_key));
}

/** Each parked key's head (its lowest id) whose retry is due, oldest first. */
export async function dueParkedHeads(client: Client, schema: string, limit: number, scope?: ShardScope): Promise<ParkedHead[]> {
  const params: unknown[] = [limit];
  const hash = `"${schema}".outbox_key_hash(partition_key)`;
  const res = await client.query<{ id: string; message_id: string; type: string; exchange: string; routing_key: string; mandatory: boolean; properties: Record<string, unknown>; payload: string; watch_exchange: string | null; watch_routing_key: string | null; partition_key: string; attempts: number; age_ms: number; key_hash: string }>(
    `SELECT * FROM (
       SELECT DISTINCT ON (partition_key) id, message_id, type, exchange, routing_key, mandatory, properties, payload, watch_exchange, watch_routing_key, partition_key, attempts, retry_at,
              (extract(epoch FROM now() - created_at) * 1000)::float8 AS age_ms, ${hash} AS key_hash
       FROM "${schema}".outbox_parked WHERE ${shardCondition(hash, scope, params)} ORDER BY partition_key, id
     ) heads WHERE retry_at IS NULL OR retry_at <= now() ORDER BY id LIMIT $1`,
    params,
  );
  return res.rows.map((r) => ({ id: r.id, messageId: r.message_id, type: r.type, exchange: r.exchange, routingKey: r.routing_key, mandatory: r.mandatory, properties: r.properties, payload: r.payload, watchExchange: r.watch_exchange, watchRoutingKey: r.watch_routing_key, partitionKey: r.partition_key, attempts: r.attempts, ageMs: r.age_ms, keyHash: Number(r.key_hash) }));
}

/**
 * The head was published at last: it goes, and the key's other rows move back to the outbox, in
 * their order (new ids, at its end: no row of the key is in the outbox meanwhile).
 */
export async function unparkAfterHead(client: Client, schema: string, key: string, headId: string): Promise<number> {
  const res = await client.query(
    `WITH gone AS (DELETE FROM "${schema}".outbox_parked WHERE partition_key = $1 RETURNING ${COLUMNS})
     INSERT INTO "${schema}".outbox (message_id, type, exchange, routing_key, mandatory, properties, payload, created_at, watch_exchange, watch_routing_key, key_hash)
     SELECT message_id, type, exchange, routing_key, mandatory, properties, payload, created_at, watch_exchange, watch_routing_key, "${schema}".outbox_key_hash($1) FROM gone WHERE id <> $2::bigint ORDER BY id`,
    [key, headId],
  );
  return res.rowCount ?? 0;
}

/** The head was refused again: try it later. */
export async function deferParkedHead(client: Client, schema: string, id: string, attempts: number, retryInMs: number, reason: string): Promise<void> {
  await client.query(`UPDATE "${schema}".outbox_parked SET attempts = $2, retry_at = now() + $3 * interval '1 millisecond', reason = $4 WHERE id = $1::bigint`, [id, attempts, retryInMs, reason.slice(0, 500)]);
}
