import type { BatchControl, Delivery } from '../amqp/partition-consumer';
import { contracts, deadLetterExchange, HEADER, type MessageType, sleep } from '@stockflow/client/internal';
import type { DeadLetterReason } from '../errors';
import { BUDGETS, RetryPolicy } from '../retry/policy';
import type { Runtime } from './types';

/**
 * Room for the original headers on a dead-lettered copy. amqplib encodes a header table into a
 * 64 KiB buffer, and the broker accepts bigger ones from other clients: a message whose own
 * headers nearly fill that could never be dead-lettered with ours added. What does not fit is
 * left out, largest first, and x-stockflow-dropped-headers says which.
 */
export const DEAD_LETTER_HEADER_BYTES = 16 * 1024;

/** Headers the worker adds to a dead-lettered copy, besides reason, error, queue and time. */
export const DEAD_LETTER_HEADERS = {
  dropped: 'x-stockflow-dropped-headers',
  compensation: 'x-stockflow-compensation',
} as const;

/** Size of one header as the AMQP table encodes it, near enough (name, type tag, value). */
function encodedSize(name: string, value: unknown): number {
  const v = Buffer.isBuffer(value) ? value.length : typeof value === 'string' ? Buffer.byteLength(value) : Buffer.byteLength(JSON.stringify(value) ?? '');
  return Buffer.byteLength(name) + 6 + v;
}

/** The original headers that fit DEAD_LETTER_HEADER_BYTES (smallest first), and the names of the rest. */
export function fitHeaders(headers: Record<string, unknown>): { kept: Record<string, unknown>; dropped: string[] } {
  const entries = Object.entries(headers).map(([k, v]) => ({ k, v, size: encodedSize(k, v) }));
  let used = 0;
  const kept: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const e of [...entries].sort((a, b) => a.size - b.size)) {
    if (used + e.size <= DEAD_LETTER_HEADER_BYTES) {
      used += e.size;
      kept[e.k] = e.v;
    } else {
      dropped.push(e.k);
    }
  }
  return { kept, dropped };
}

/**
 * Publishes a copy of a delivery to the dead-letter exchange with the reason in headers
 * (confirmed), then acks the original. Bounded (BUDGETS.deadLetter): an unroutable copy (its
 * dead queue or binding was deleted) or a closed channel (the exchange was) first has the
 * topology declared again; past the budget the delivery goes back to the broker, whose
 * x-delivery-limit then dead-letters it, so nothing waits here forever. Returns false when the
 * delivery was not dead-lettered here (gone stale, or given back): its redelivery decides.
 * A crash between the publish and the ack leaves a second copy in the dead queue, never none.
 */
export class DeadLetterPublisher {
  constructor(
    private readonly rt: Runtime,
    private readonly policy: RetryPolicy,
  ) {}

  async publish(d: Delivery, ctl: BatchControl, dead: { reason: DeadLetterReason; error: string; queue: string; partition: number; headers?: Record<string, string> }): Promise<boolean> {
    const p = d.msg.properties;
    const messageId = typeof p.messageId === 'string' && p.messageId ? p.messageId : `unidentified-${dead.queue}-${Date.now()}-${d.msg.fields.deliveryTag}`;
    const type = typeof p.type === 'string' ? p.type : undefined;
    const log = this.rt.log.child({ messageId, type: type ?? '(none)', partition: dead.partition, correlationId: typeof p.correlationId === 'string' ? p.correlationId : messageId });
    const { kept, dropped } = this.rt.sabotage.untrimmedDeadLetters ? { kept: p.headers ?? {}, dropped: [] } : fitHeaders(p.headers ?? {});
    const headers: Record<string, unknown> = {
      ...kept,
      ...dead.headers,
      [HEADER.reason]: dead.reason,
      [HEADER.error]: dead.error.slice(0, 1000),
      [HEADER.originalQueue]: dead.queue,
      [HEADER.deadAt]: new Date().toISOString(),
    };
    if (dropped.length > 0) headers[DEAD_LETTER_HEADERS.dropped] = dropped.join(',').slice(0, 1000);
    for (let attempt = 0; ; attempt++) {
      if (ctl.isStale(d) || ctl.signal.aborted) return false;
      try {
        await this.rt.publisher.publish(deadLetterExchange(this.rt.topology.namespace), dead.queue, d.msg.content, {
          messageId,
          type,
          correlationId: typeof p.correlationId === 'string' ? p.correlationId : undefined,
          contentType: p.contentType as string | undefined,
          timestamp: p.timestamp as number | undefined,
          headers,
        });
        ctl.ack(d);
        this.rt.metrics.deadLettered.inc({ reason: dead.reason });
        this.rt.metrics.processed.inc({ type: type && contracts[type as MessageType] ? type : 'unknown', outcome: 'dead_lettered' });
        log.warn({ reason: dead.reason, error: dead.error, droppedHeaders: dropped.length > 0 ? dropped.length : undefined }, 'message dead-lettered');
        return true;
      } catch (err) {
        const next = this.policy.next(err, attempt, BUDGETS.deadLetter);
        if (!next.retry) {
          log.error({ err: (err as Error).message, reason: dead.reason, attempts: attempt + 1 }, 'could not dead-letter; giving the delivery back to the broker (its x-delivery-limit dead-letters it)');
          this.rt.metrics.givenBack.inc({ step: 'dead_letter' });
          ctl.giveBack();
          return false;
        }
        log.warn({ err: (err as Error).message, retryInMs: next.delayMs }, 'dead-lettering failed; declaring the topology again and retrying');
        await this.rt.repairTopology().catch((e: unknown) => log.warn({ err: (e as Error).message }, 'topology repair failed'));
        await sleep(next.delayMs, ctl.signal);
      }
    }
  }
}
