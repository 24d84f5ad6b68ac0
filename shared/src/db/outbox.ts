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

/**
 * Appends follow-up messages in the handler's transaction (published only if it commits).
 * Queued with Tx.write: they travel with the batch's other writes in one statement.
 */
export function writeOutbox(tx: Tx, schema: string, rows: OutboxRow[]): void {
  if (rows.length === 0) return;
  tx.write(
    `INSERT INTO "${schema}".outbox (message_id, type, exchange, routing_key, mandatory, properties, payload)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::jsonb[], $7::text[])`,
    [
      rows.map((r) => r.messageId),
      rows.map((r) => r.type),
      rows.map((r) => r.exchange),
      rows.map((r) => r.routingKey),
      rows.map((r) => r.mandatory),
      rows.map((r) => JSON.stringify(r.properties)),
      rows.map((r) => r.payload),
    ],
  );
  // Delivered to LISTENers only when (and if) the transaction commits.
  tx.write(`SELECT pg_notify($1, '')`, [outboxChannel(schema)]);
}
