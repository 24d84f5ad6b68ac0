import { sameFingerprint, type Envelope } from '@stockflow/client/internal';
import type { Tx } from './database';

/** What a claim found: the ids this transaction claimed, and the items whose id was claimed before with another fingerprint. */
export interface Claimed<I> {
  fresh: Set<string>;
  /** Not duplicates: the same id with another type or payload (dead-lettered as id_reused). Per item: a copy of the same id beside it is a duplicate. */
  reused: Set<I>;
}

/**
 * Claims message ids inside the handler's transaction. The primary key (consumer, message_id)
 * is the deduplication truth: a concurrent claim of the same id waits for the first
 * transaction and then finds the row (duplicate) or, if that one rolled back, takes it. A
 * message whose id is taken is a duplicate only if its fingerprint (type and payload) is the
 * one recorded with it; otherwise the id was reused for something else, which must not vanish
 * as a duplicate would. Rows from before fingerprints were recorded count as the same.
 * Claims are inserted in delivery order, so the inbox's `seq` is the order in which messages
 * took effect: the record an operator or an audit reads to tell what happened to a key, and
 * what a per-key order check compares with the publish order. Sorting the claims by id would
 * only rule out a deadlock between two transactions claiming the same ids at once, which needs
 * one id in two partitions (a reused id) and is retried as transient.
 */
export async function claimInbox<I extends { envelope: Envelope; fingerprint: string; earlierFingerprints?: readonly string[] }>(tx: Tx, schema: string, consumer: string, items: I[]): Promise<Claimed<I>> {
  if (items.length === 0) return { fresh: new Set(), reused: new Set() };
  const rows = await tx.query<{ message_id: string }>(
    `INSERT INTO "${schema}".inbox (consumer, message_id, type, partition_key, sequence, sequence_session, fingerprint)
     SELECT $1, m, t, k, s, ss, f FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[]) WITH ORDINALITY AS x(m, t, k, s, ss, f, o)
     ORDER BY o
     ON CONFLICT DO NOTHING
     RETURNING message_id`,
    [
      consumer,
      items.map((i) => i.envelope.messageId),
      items.map((i) => i.envelope.type),
      items.map((i) => i.envelope.partitionKey),
      items.map((i) => i.envelope.sequence ?? null),
      items.map((i) => i.envelope.sequenceSession ?? ''),
      items.map((i) => i.fingerprint),
    ],
  );
  const fresh = new Set(rows.map((r) => r.message_id));
  const reused = new Set<I>();
  const taken = items.filter((i) => !fresh.has(i.envelope.messageId));
  if (taken.length > 0) {
    // Only for ids claimed before (duplicates are rare past the Redis fast path); a statement
    // of its own sees what a concurrent claim committed while this one waited for it.
    const before = await tx.query<{ message_id: string; fingerprint: string | null }>(
      `SELECT message_id, fingerprint FROM "${schema}".inbox WHERE consumer = $1 AND message_id = ANY($2::text[])`,
      [consumer, taken.map((i) => i.envelope.messageId)],
    );
    const recorded = new Map(before.map((r) => [r.message_id, r.fingerprint]));
    for (const i of taken) {
      const f = recorded.get(i.envelope.messageId);
      if (f !== null && f !== undefined && !sameFingerprint(i, f)) reused.add(i);
    }
  }
  return { fresh, reused };
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

/** A partition key's numbering: its key and the publisher session its sequences belong to ('' for none). */
export interface SequenceStream {
  key: string;
  session: string;
}

export function streamId(s: SequenceStream): string {
  return `${s.key}\u001f${s.session}`;
}

/** Highest applied sequence per (partition key, session), by streamId (streams with none are absent). */
export async function appliedSequences(query: Tx['query'], schema: string, consumer: string, streams: SequenceStream[]): Promise<Map<string, number>> {
  if (streams.length === 0) return new Map();
  const rows = await query<{ partition_key: string; sequence_session: string; last: string }>(
    `SELECT i.partition_key, i.sequence_session, max(i.sequence) AS last
     FROM unnest($2::text[], $3::text[]) AS w(k, s)
     JOIN "${schema}".inbox i ON i.consumer = $1 AND i.partition_key = w.k AND i.sequence_session = w.s AND i.sequence IS NOT NULL
     GROUP BY i.partition_key, i.sequence_session`,
    [consumer, streams.map((s) => s.key), streams.map((s) => s.session)],
  );
  return new Map(rows.map((r) => [streamId({ key: r.partition_key, session: r.sequence_session }), Number(r.last)]));
}

/**
 * How long the newest inbox row of a sequence stream outlives the inbox retention: it is the
 * stream's applied high-water mark, and a message of a stream whose earlier rows were all
 * purged would otherwise wait SEQUENCE_GAP_WAIT_MS for predecessors applied long ago. A stream
 * silent for this long is over (its publisher has long restarted): its mark goes too.
 */
export const SEQUENCE_MARK_RETENTION_MS = 90 * 86_400_000;

/**
 * Retention: deletes inbox rows older than the window, in small batches so no statement
 * holds many locks or bloats WAL at once, but keeps each sequence stream's newest row (its
 * applied high-water mark) up to SEQUENCE_MARK_RETENTION_MS. Returns how many rows went.
 */
export async function purgeInbox(query: Tx['query'], schema: string, olderThanMs: number, batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await query<{ n: number }>(
      `WITH doomed AS (
         SELECT consumer, message_id FROM "${schema}".inbox o
         WHERE received_at < now() - make_interval(secs => $1::double precision / 1000)
           AND (sequence IS NULL
                OR received_at < now() - make_interval(secs => $3::double precision / 1000)
                OR EXISTS (SELECT 1 FROM "${schema}".inbox n
                           WHERE n.consumer = o.consumer AND n.partition_key = o.partition_key AND n.sequence_session = o.sequence_session AND n.sequence > o.sequence))
         LIMIT $2
       )
       DELETE FROM "${schema}".inbox i USING doomed d
       WHERE i.consumer = d.consumer AND i.message_id = d.message_id
       RETURNING 1 AS n`,
      [olderThanMs, batch, SEQUENCE_MARK_RETENTION_MS],
    );
    total += rows.length;
    if (rows.length < batch) return total;
  }
}
