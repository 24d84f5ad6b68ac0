import type { Envelope } from '../contracts';
import type { Tx } from './database';

/**
 * Claims message ids inside the handler's transaction. The primary key (consumer, message_id)
 * is the deduplication truth: a concurrent claim of the same id waits for the first
 * transaction and then finds the row (duplicate) or, if that one rolled back, takes it.
 * Returns the ids this transaction claimed; the rest are duplicates and must have no effect.
 * Claims are inserted in delivery order on purpose: the inbox's `seq` then records the order
 * in which messages took effect, which the flood's per-key-order check reads (claiming in id
 * order, to rule out deadlocks between transactions claiming copies of the same ids, broke
 * that record; such a deadlock is transient and retried).
 */
export async function claimInbox(tx: Tx, schema: string, consumer: string, envelopes: Envelope[]): Promise<Set<string>> {
  if (envelopes.length === 0) return new Set();
  const rows = await tx.query<{ message_id: string }>(
    `INSERT INTO "${schema}".inbox (consumer, message_id, type, partition_key, sequence)
     SELECT $1, m, t, k, s FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS x(m, t, k, s, o)
     ORDER BY o
     ON CONFLICT DO NOTHING
     RETURNING message_id`,
    [
      consumer,
      envelopes.map((e) => e.messageId),
      envelopes.map((e) => e.type),
      envelopes.map((e) => e.partitionKey),
      envelopes.map((e) => e.sequence ?? null),
    ],
  );
  return new Set(rows.map((r) => r.message_id));
}

/** Ids already in the inbox (committed), read outside a transaction. */
export async function processedIds(query: Tx['query'], schema: string, consumer: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await query<{ message_id: string }>(
    `SELECT message_id FROM "${schema}".inbox WHERE consumer = $1 AND message_id = ANY($2::text[])`,
    [consumer, ids],
  );
  return new Set(rows.map((r) => r.message_id));
}

/** Highest applied sequence per partition key (keys with none are absent). */
export async function appliedSequences(query: Tx['query'], schema: string, consumer: string, keys: string[]): Promise<Map<string, number>> {
  if (keys.length === 0) return new Map();
  const rows = await query<{ partition_key: string; last: string }>(
    `SELECT partition_key, max(sequence) AS last FROM "${schema}".inbox
     WHERE consumer = $1 AND partition_key = ANY($2::text[]) AND sequence IS NOT NULL
     GROUP BY partition_key`,
    [consumer, keys],
  );
  return new Map(rows.map((r) => [r.partition_key, Number(r.last)]));
}

/**
 * Retention: deletes inbox rows older than the window, in small batches so no statement
 * holds many locks or bloats WAL at once. Returns how many rows went.
 */
export async function purgeInbox(query: Tx['query'], schema: string, olderThanMs: number, batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await query<{ n: number }>(
      `WITH doomed AS (
         SELECT consumer, message_id FROM "${schema}".inbox
         WHERE received_at < now() - make_interval(secs => $1::double precision / 1000)
         LIMIT $2
       )
       DELETE FROM "${schema}".inbox i USING doomed d
       WHERE i.consumer = d.consumer AND i.message_id = d.message_id
       RETURNING 1 AS n`,
      [olderThanMs, batch],
    );
    total += rows.length;
    if (rows.length < batch) return total;
  }
}
