import type { Tx } from './database';

export interface OutboxRow {
  messageId: string;
  type: string;
  exchange: string;
  routingKey: string;
  mandatory: boolean;
  properties: Record<string, unknown>;
  payload: string;
}

export function outboxChannel(schema: string): string {
  return `${schema}_outbox`;
}

/** An outbox row as committed, with its id (the relay deletes by id once published). */
export interface OutboxRecord extends OutboxRow {
  id: string;
}

/**
 * Appends follow-up messages in the handler's transaction (published only if it commits).
 * Queued with Tx.write: they travel with the batch's other writes in one statement.
 *
 * `handoff`: the writer will give the committed rows to its own relay (OutboxRelay.handoff),
 * so that relay need not read them back. `onRecords` gets the rows with their ids when the
 * writes are sent (before COMMIT).
 *
 * When the writer's own relay leads (`leading`), there is no NOTIFY: only the leader publishes,
 * and it gets these rows by hand-off. That spares Postgres the notification queue and a wake-up
 * of every listening relay session per transaction, and the relays a message they would only
 * ignore. If that relay no longer leads when COMMIT returns, the writer announces the rows
 * after the fact (notifyOutbox), so a leader elsewhere reads them at once. Otherwise the
 * NOTIFY carries the writer's instance id (a relay that leads reads the table on any id but
 * its own; no id at all from writers without a relay).
 */
export function writeOutbox(tx: Tx, schema: string, rows: OutboxRow[], handoff?: { instanceId: string; leading: boolean; onRecords(records: OutboxRecord[]): void }): void {
  if (rows.length === 0) return;
  // One json parameter instead of seven arrays: pg escapes every element of a text[] in
  // JavaScript (the payloads are quote-heavy JSON), JSON.stringify does it natively. The
  // column names are OutboxRow's keys, so the rows go in as they are.
  tx.write(
    `INSERT INTO "${schema}".outbox (message_id, type, exchange, routing_key, mandatory, properties, payload)
     SELECT * FROM json_to_recordset($1::json)
       AS r("messageId" text, type text, exchange text, "routingKey" text, mandatory boolean, properties jsonb, payload text)${handoff ? ' RETURNING id, message_id' : ''}`,
    [JSON.stringify(rows)],
    handoff
      ? (returned) => {
          const ids = new Map(returned.map((r) => [String(r.message_id), String(r.id)]));
          handoff.onRecords(rows.map((r) => ({ ...r, id: ids.get(r.messageId)! })));
        }
      : undefined,
  );
  if (handoff?.leading) return;
  // Delivered to LISTENers only when (and if) the transaction commits.
  tx.write(`SELECT pg_notify($1, $2)`, [outboxChannel(schema), handoff?.instanceId ?? '']);
}

/** NOTIFY outside a transaction: rows committed without one that the writer's relay did not take. */
export async function notifyOutbox(query: (sql: string, params: unknown[]) => Promise<unknown>, schema: string): Promise<void> {
  await query(`SELECT pg_notify($1, '')`, [outboxChannel(schema)]);
}
