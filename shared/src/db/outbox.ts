import type { Tx } from './database';

export interface OutboxRow {
  messageId: string;
  type: string;
  exchange: string;
  routingKey: string;
  mandatory: boolean;
  properties: Record<string, unknown>;
  payload: string;
  /** Events with a consumer: the second, non-mandatory copy for watchers (events exchange); null otherwise. */
  watchExchange: string | null;
  watchRoutingKey: string | null;
  /** keyHash() of the partition key: which relay shard publishes the row (outbox-shards.ts). */
  keyHash: number;
}

/** Published with every outbox row: the relay sets them, so rows do not store them. */
const FIXED_PROPERTIES = { contentType: 'application/json', persistent: true } as const;

/**
 * What of a message's AMQP properties its outbox row stores: all but its id and type (columns of
 * their own) and FIXED_PROPERTIES. The row is written, read back and parsed as jsonb once per
 * message, so what the relay can give back is not stored.
 */
export function storedProperties(props: object): Record<string, unknown> {
  const { messageId: _id, type: _type, contentType: _contentType, persistent: _persistent, ...rest } = props as Record<string, unknown>;
  return rest;
}

/**
 * The options a row is published with: FIXED_PROPERTIES, then what the row stored (a row stored
 * with the full set overrides them with the same values), then its id and type. Built property
 * by property: two spreads in one literal take V8's generic copy, about 3 µs per row against
 * 0.1 µs.
 */
export function publishOptions(row: Pick<OutboxRow, 'messageId' | 'type' | 'properties'>, mandatory: boolean): Record<string, unknown> & { messageId: string; type: string; mandatory: boolean } {
  const out: Record<string, unknown> = { contentType: FIXED_PROPERTIES.contentType, persistent: FIXED_PROPERTIES.persistent };
  const stored = row.properties;
  for (const k in stored) if (Object.hasOwn(stored, k)) out[k] = stored[k];
  out.messageId = row.messageId;
  out.type = row.type;
  out.mandatory = mandatory;
  return out as Record<string, unknown> & { messageId: string; type: string; mandatory: boolean };
}

export function outboxChannel(schema: string): string {
  return `${schema}_outbox`;
}

/** An outbox row as committed, with its id (the relay deletes by id once published). */
export interface OutboxRecord extends OutboxRow {
  id: string;
}

/**
 * A row with its id, written out field by field: `{ ...row, id }` (a property added to a
 * spread) takes V8's generic copy, about 1 µs a row against 0.03 µs.
 */
export function recordOf(r: OutboxRow, id: string): OutboxRecord {
  return { id, messageId: r.messageId, type: r.type, exchange: r.exchange, routingKey: r.routingKey, mandatory: r.mandatory, properties: r.properties, payload: r.payload, watchExchange: r.watchExchange, watchRoutingKey: r.watchRoutingKey, keyHash: r.keyHash };
}

/** The worker's own outbox relay, as a writer sees it (OutboxRelay). */
export interface LocalRelay {
  readonly instanceId: string;
  /** It holds the shards of all these rows now: it will take them by hand-off. */
  relaysAll(rows: readonly OutboxRow[]): boolean;
  /** Takes rows right after their COMMIT (those of shards it holds); false when it did not take them all. */
  handoff(records: OutboxRecord[]): boolean;
}

export type OutboxQuery = (sql: string, params: unknown[]) => Promise<unknown>;

/**
 * Appends follow-up messages in the handler's transaction (published only if it commits).
 * Queued with Tx.write: they travel with the batch's other writes in one statement.
 *
 * With `local`, the committed rows go to the worker's own relay (OutboxRelay.handoff), so it
 * need not read them back. When that relay holds the shards of all the rows there is no
 * NOTIFY: only a shard's holder publishes its rows, and it gets these by hand-off. That spares
 * Postgres the notification queue and a wake-up of every listening relay session per
 * transaction, and the relays a message they would only ignore. If it no longer holds them all
 * when COMMIT returns, it keeps what it holds and the rows are announced after the fact
 * (`local.query`, outside the transaction), so a holder elsewhere, which may have read the
 * table before this COMMIT, reads it again at once. Otherwise the NOTIFY carries the writer's
 * instance id (a relay reads the table on any id but its own, whose rows of its shards it got
 * by hand-off; no id at all from writers without a relay).
 */
export function writeOutbox(tx: Tx, schema: string, rows: OutboxRow[], local?: { relay: LocalRelay; query: OutboxQuery; onNotifyError: (err: unknown) => void }): void {
  if (rows.length === 0) return;
  const leading = local?.relay.relaysAll(rows) ?? false;
  // One json parameter instead of seven arrays: pg escapes every element of a text[] in
  // JavaScript (the payloads are quote-heavy JSON), JSON.stringify does it natively. The
  // column names are OutboxRow's keys, so the rows go in as they are. Parsed as jsonb once
  // (jsonb_to_recordset): json_to_recordset filling the jsonb `properties` column parses every
  // row's properties a second time, several times the cost of the rest of the row.
  tx.write(
    `INSERT INTO "${schema}".outbox (message_id, type, exchange, routing_key, mandatory, properties, payload, watch_exchange, watch_routing_key, key_hash)
     SELECT * FROM jsonb_to_recordset($1::jsonb)
       AS r("messageId" text, type text, exchange text, "routingKey" text, mandatory boolean, properties jsonb, payload text, "watchExchange" text, "watchRoutingKey" text, "keyHash" bigint)${local ? ' RETURNING id, message_id' : ''}`,
    [JSON.stringify(rows)],
    local
      ? (returned) => {
          const ids = new Map(returned.map((r) => [String(r.message_id), String(r.id)]));
          const records = rows.map((r) => recordOf(r, ids.get(r.messageId)!));
          tx.onCommit(() => {
            if (!local.relay.handoff(records) && leading) void notifyOutbox(local.query, schema).catch(local.onNotifyError);
          });
        }
      : undefined,
  );
  if (leading) return;
  // Delivered to LISTENers only when (and if) the transaction commits.
  tx.write(`SELECT pg_notify($1, $2)`, [outboxChannel(schema), local?.relay.instanceId ?? '']);
}

/** NOTIFY outside a transaction: rows committed without one that the writer's relay did not take. */
export async function notifyOutbox(query: OutboxQuery, schema: string): Promise<void> {
  await query(`SELECT pg_notify($1, '')`, [outboxChannel(schema)]);
}
