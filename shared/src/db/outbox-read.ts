import type { Client } from 'pg';
import type { Sendable } from './outbox-handoff-queue';
import { keyHashSql, ROW_KEY_SQL, shardCondition, type ShardScope } from './outbox-shards';

interface Row {
  id: string;
  message_id: string;
  type: string;
  exchange: string;
  routing_key: string;
  mandatory: boolean;
  properties: Record<string, unknown>;
  payload: string;
  watch_exchange: string | null;
  watch_routing_key: string | null;
  age_ms: number;
  key_hash: string;
}

export interface OutboxRead {
  limit: number;
  /** Only rows older than this (the relay's safety-net read). */
  minAgeMs?: number;
  /** With minAgeMs: only rows below this id. */
  beforeId?: string;
  /** Keys whose rows stay out of the read… */
  held: ReadonlySet<string>;
  /** …but for these rows of theirs (refused rows whose retry is due). */
  due: readonly string[];
  /** Only the rows of these shards. */
  scope: ShardScope;
}

/** The oldest rows of the outbox (id order) that the relay may publish now. */
export async function readOutbox(client: Client, schema: string, read: OutboxRead): Promise<Sendable[]> {
  const params: unknown[] = [read.limit];
  const where: string[] = [];
  if (read.minAgeMs !== undefined) {
    params.push(read.minAgeMs);
    where.push(`created_at < now() - $${params.length} * interval '1 millisecond'`);
    if (read.beforeId !== undefined) {
      params.push(read.beforeId);
      where.push(`id < $${params.length}::bigint`);
    }
  }
  const shards = shardCondition(keyHashSql(schema), read.scope, params);
  if (shards !== 'true') where.push(shards);
  if (read.held.size > 0) {
    params.push([...read.held], read.due);
    where.push(`(NOT (${ROW_KEY_SQL} = ANY($${params.length - 1}::text[])) OR id = ANY($${params.length}::bigint[]))`);
  }
  const { rows } = await client.query<Row>(
    `SELECT id, message_id, type, exchange, routing_key, mandatory, properties, payload, watch_exchange, watch_routing_key,
            (extract(epoch FROM now() - created_at) * 1000)::float8 AS age_ms, ${keyHashSql(schema)} AS key_hash
     FROM "${schema}".outbox
     ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY id LIMIT $1`,
    params,
  );
  return rows.map((r) => ({ id: r.id, messageId: r.message_id, type: r.type, exchange: r.exchange, routingKey: r.routing_key, mandatory: r.mandatory, properties: r.properties, payload: r.payload, watchExchange: r.watch_exchange, watchRoutingKey: r.watch_routing_key, keyHash: Number(r.key_hash), ageMs: r.age_ms }));
}
