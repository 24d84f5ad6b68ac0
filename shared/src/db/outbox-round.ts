import { HEADER } from '@stockflow/client/internal';
import type { OutboxRecord } from './outbox';

export type RowOutcome<R> = { row: R; status: 'confirmed' } | { row: R; status: 'failed'; error: unknown } | { row: R; status: 'blocked' };

/** The partition key a row's consumers order by (envelope header); a row without one is a key of its own. */
export function rowKey(row: Pick<OutboxRecord, 'messageId' | 'properties'>): string {
  const key = (row.properties.headers as Record<string, unknown> | undefined)?.[HEADER.partitionKey];
  return typeof key === 'string' ? key : `message:${row.messageId}`;
}

const OPEN = Promise.resolve(true);

/**
 * Publishes one round of outbox rows (id order) and says what became of each: confirmed,
 * failed (the broker nacked or returned it, or it could not be sent), or blocked (not sent,
 * because an earlier row of its key in this round failed).
 *
 * Rows go out pipelined, in id order, without waiting for each other's confirms, except behind
 * a mandatory row of the same partition key: a mandatory row can come back unroutable (its
 * binding was deleted) while the broker routes the next one of its key (another type, another
 * binding), which would reach the consumer first. So a key's rows after a mandatory one wait
 * for its confirm, and if it fails they are not sent at all, which keeps the key's order for
 * its retry. Rows of other keys are never held up by it. A non-mandatory row cannot be
 * returned; one the broker nacks may have a later row of its key already sent (rare: a broker
 * that refuses what it can route refuses the rest too).
 */
export async function publishRound<R extends Pick<OutboxRecord, 'messageId' | 'mandatory' | 'properties'>>(rows: R[], send: (row: R) => Promise<void>): Promise<RowOutcome<R>[]> {
  /** Per key: resolves true once the next row of the key may go, false when the key is blocked for this round. */
  const gates = new Map<string, Promise<boolean>>();
  const attempt = (row: R): Promise<RowOutcome<R>> =>
    send(row).then(
      (): RowOutcome<R> => ({ row, status: 'confirmed' }),
      (error: unknown): RowOutcome<R> => ({ row, status: 'failed', error }),
    );
  const outcomes = rows.map((row) => {
    const key = rowKey(row);
    const gate = gates.get(key);
    const outcome = gate ? gate.then((open) => (open ? attempt(row) : { row, status: 'blocked' as const })) : attempt(row);
    if (row.mandatory) gates.set(key, outcome.then((o) => o.status === 'confirmed'));
    else if (gate) gates.set(key, gate.then((open) => open && OPEN));
    return outcome;
  });
  return Promise.all(outcomes);
}
