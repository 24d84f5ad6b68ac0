import { result, type CheckContext, type InvariantResult } from './types';

interface InboxRow {
  consumer: string;
  partition_key: string;
  sequence_session: string;
  message_id: string;
  sequence: string | null;
  prev_sequence: string | null;
  prev_id: string | null;
  at: string;
  prev_at: string | null;
  tx: string;
  prev_tx: string | null;
}

/**
 * 6. Per-key order: the inbox's `seq` (a bigserial taken when the claim is inserted, inside
 * the transaction that applies the message) is the order in which messages took effect. For
 * each consumer, partition key and publisher session (a publisher-restart numbers every key
 * from 1 again in a new one), the flood's per-key sequence numbers must rise along it. Every
 * row is also matched against the history: the key, session and sequence the broker delivered
 * must be the ones the flood published under that id.
 */
export async function checkPerKeyOrder(ctx: CheckContext): Promise<InvariantResult> {
  const offenders: string[] = [];
  let checked = 0;
  for (const schema of ['inventory', 'orders', 'payments']) {
    const rows = await ctx.db.query<InboxRow>(
      `SELECT consumer, partition_key, sequence_session, message_id, sequence, lag(sequence) OVER w AS prev_sequence, lag(message_id) OVER w AS prev_id,
              to_char(received_at, 'HH24:MI:SS.MS') AS at, lag(to_char(received_at, 'HH24:MI:SS.MS')) OVER w AS prev_at,
              xmin::text AS tx, lag(xmin::text) OVER w AS prev_tx
       FROM "${schema}".inbox WHERE message_id LIKE $1 || '%'
       WINDOW w AS (PARTITION BY consumer, partition_key, sequence_session ORDER BY seq)`,
      [ctx.prefix.command],
    );
    for (const r of rows) {
      checked++;
      const published = ctx.history.original(r.message_id);
      const sequence = r.sequence === null ? null : Number(r.sequence);
      // Through the gateway a key is numbered in the gateway's session, in the order the flood
      // sent its requests (one after another): only the key is the flood's to compare.
      const numbered = published?.via !== 'http';
      if (published && (published.key !== r.partition_key || (numbered && (published.sequence !== sequence || published.session !== r.sequence_session)))) {
        offenders.push(`${r.message_id}: applied as key ${r.partition_key} session ${r.sequence_session} seq ${r.sequence}, published as key ${published.key} session ${published.session} seq ${published.sequence}`);
      }
      if (sequence !== null && r.prev_sequence !== null && sequence <= Number(r.prev_sequence)) {
        const stream = r.sequence_session ? `key ${r.partition_key} session ${r.sequence_session}` : `key ${r.partition_key}`;
        offenders.push(`${stream} (${r.consumer}): ${r.message_id} seq ${sequence} took effect after ${r.prev_id} seq ${r.prev_sequence} (tx ${r.tx} at ${r.at} after tx ${r.prev_tx} at ${r.prev_at})`);
      }
    }
  }
  return result('per-key-order', offenders, checked);
}
