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
 * so that relay need not read them back; its instance id goes out as the NOTIFY payload, which
 * tells that relay the rows are coming in memory while any other relay still reads the table.
 * `onRecords` gets the rows with their ids when the writes are sent (before COMMIT).
 */
export function writeOutbox(tx: Tx, schema: string, rows: OutboxRow[], handoff?: { instanceId: string; onRecords(records: OutboxRecord[]): void }): void {
  if (rows.length === 0) return;
  tx.write(
    `INSERT INTO "${schema}".outbox (message_id, type, exchange, routing_key, mandatory, properties, payload)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::jsonb[], $7::text[])${handoff ? ' RETURNING id, message_id' : ''}`,
    [
      rows.map((r) => r.messageId),
      rows.map((r) => r.type),
      rows.map((r) => r.exchange),
      rows.map((r) => r.routingKey),
      rows.map((r) => r.mandatory),
      rows.map((r) => JSON.stringify(r.properties)),
      rows.map((r) => r.payload),
    ],
    handoff
      ? (returned) => {
          const ids = new Map(returned.map((r) => [String(r.message_id), String(r.id)]));
          handoff.onRecords(rows.map((r) => ({ ...r, id: ids.get(r.messageId)! })));
        }
      : undefined,
  );
  // Delivered to LISTENers only when (and if) the transaction commits.
  tx.write(`SELECT pg_notify($1, $2)`, [outboxChannel(schema), handoff?.instanceId ?? '']);
}
