import type { Pool } from 'pg';

/**
 * The gateway's own record of every command it accepted, by message id (the Idempotency-Key):
 * who sent it, what it stood for (type and payload fingerprint), where it went, and what came of
 * it. It answers a repeated key without asking Redis or the broker, and GET /v1/commands/{id}
 * after the wait. The workers' tables are only ever read.
 *
 * state: publishing → accepted (the broker confirmed) → applied | rejected | dead_lettered.
 *   unconfirmed: the broker did not confirm (timeout, nack, closed channel); it may still have
 *     the command, so only the same request may send it again (the key stays taken).
 *   processed: a worker had applied the key before the gateway saw it (sent over AMQP); its
 *     outcome went out then.
 * A publishing row whose publish was refused outright (unroutable) is deleted: the key is free.
 * `claimed_at` is when a request took the row to publish: one that died meanwhile leaves it
 * `publishing`, and a later request with the same body takes it over once it is stale.
 */
export const GATEWAY_SCHEMA = 'gateway';
export const OUTCOME_CHANNEL = 'stockflow_gateway_outcome';

export type CommandState = 'publishing' | 'unconfirmed' | 'accepted' | 'processed' | 'applied' | 'rejected' | 'dead_lettered';

export interface CommandRow {
  message_id: string;
  client: string;
  type: string;
  fingerprint: string;
  partition: number;
  state: CommandState;
  outcome_type: string | null;
  outcome: unknown;
  reason: string | null;
  created_at: Date;
  claimed_at: Date;
}

export async function ensureCommandsTable(pool: Pool): Promise<void> {
  // IF NOT EXISTS still races on the catalog when several instances start at once.
  await pool.query(`DO $$ BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('stockflow.gateway'));
    CREATE SCHEMA IF NOT EXISTS ${GATEWAY_SCHEMA};
    CREATE TABLE IF NOT EXISTS ${GATEWAY_SCHEMA}.command (
      message_id   text        PRIMARY KEY,
      client       text        NOT NULL,
      type         text        NOT NULL,
      fingerprint  text        NOT NULL,
      partition    integer     NOT NULL,
      state        text        NOT NULL CHECK (state IN ('publishing', 'unconfirmed', 'accepted', 'processed', 'applied', 'rejected', 'dead_lettered')),
      outcome_type text,
      outcome      jsonb,
      reason       text,
      created_at   timestamptz NOT NULL DEFAULT now(),
      claimed_at   timestamptz NOT NULL DEFAULT now(),
      settled_at   timestamptz
    );
    CREATE INDEX IF NOT EXISTS command_created_at ON ${GATEWAY_SCHEMA}.command (created_at);
  END $$`);
}

export async function insertPublishing(pool: Pool, row: { messageId: string; client: string; type: string; fingerprint: string; partition: number }): Promise<boolean> {
  const r = await pool.query(
    `INSERT INTO ${GATEWAY_SCHEMA}.command (message_id, client, type, fingerprint, partition, state) VALUES ($1, $2, $3, $4, $5, 'publishing') ON CONFLICT (message_id) DO NOTHING`,
    [row.messageId, row.client, row.type, row.fingerprint, row.partition],
  );
  return r.rowCount === 1;
}

export async function findCommand(pool: Pool, messageId: string): Promise<CommandRow | undefined> {
  return (await pool.query<CommandRow>(`SELECT * FROM ${GATEWAY_SCHEMA}.command WHERE message_id = $1`, [messageId])).rows[0];
}

/**
 * publishing → accepted, unconfirmed or processed (by the request that holds the claim); the
 * row as it is now (an outcome may have settled it first).
 */
export async function markPublished(pool: Pool, messageId: string, state: 'accepted' | 'unconfirmed' | 'processed'): Promise<CommandRow | undefined> {
  const r = await pool.query<CommandRow>(`UPDATE ${GATEWAY_SCHEMA}.command SET state = $2 WHERE message_id = $1 AND state = 'publishing' RETURNING *`, [messageId, state]);
  // Settled first, it is read in a statement of its own: an outcome whose recording held the
  // row while the UPDATE waited for it is not in that statement's snapshot, which still shows
  // the row publishing.
  return r.rows[0] ?? findCommand(pool, messageId);
}

export async function forgetPublishing(pool: Pool, messageId: string): Promise<void> {
  await pool.query(`DELETE FROM ${GATEWAY_SCHEMA}.command WHERE message_id = $1 AND state = 'publishing'`, [messageId]);
}

/**
 * Takes the key over to send it again: an unconfirmed row, or a publishing one whose request
 * has held it longer than `staleMs` (it died). Only for the same request (fingerprint).
 */
export async function reclaim(pool: Pool, messageId: string, fingerprint: string, staleMs: number): Promise<boolean> {
  const r = await pool.query(
    `UPDATE ${GATEWAY_SCHEMA}.command SET state = 'publishing', claimed_at = now()
     WHERE message_id = $1 AND fingerprint = $2
       AND (state = 'unconfirmed' OR (state = 'publishing' AND claimed_at < now() - make_interval(secs => $3::float8 / 1000)))`,
    [messageId, fingerprint, staleMs],
  );
  return r.rowCount === 1;
}

/** Records an outcome once (the first one wins) and wakes every gateway instance's waiters. */
export async function settle(pool: Pool, messageId: string, state: 'applied' | 'rejected' | 'dead_lettered', outcomeType: string | null, outcome: unknown, reason: string | null): Promise<boolean> {
  const r = await pool.query(
    `WITH settled AS (
       UPDATE ${GATEWAY_SCHEMA}.command SET state = $2, outcome_type = $3, outcome = $4::jsonb, reason = $5, settled_at = now()
       WHERE message_id = $1 AND state IN ('publishing', 'unconfirmed', 'accepted') RETURNING message_id)
     SELECT pg_notify('${OUTCOME_CHANNEL}', message_id) FROM settled`,
    [messageId, state, outcomeType, outcome === undefined ? null : JSON.stringify(outcome), reason],
  );
  return (r.rowCount ?? 0) > 0;
}

/** Rows older than the workers' inbox retention: their keys would not be recognised there either. */
export async function purgeCommands(pool: Pool, olderThanMs: number): Promise<number> {
  const r = await pool.query(`DELETE FROM ${GATEWAY_SCHEMA}.command WHERE created_at < now() - make_interval(secs => $1::float8 / 1000)`, [olderThanMs]);
  return r.rowCount ?? 0;
}
