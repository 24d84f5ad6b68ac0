import { HEADER, queuesOf, WORKER_KINDS, type AmqpConnection, type TopologyOptions } from '@stockflow/shared';
import type { DeadLetter } from '../checker/types';

/**
 * Every message in the namespace's dead-letter queues, read without taking it away: fetched
 * unacked on one channel that is then closed, so the broker puts them all back.
 */
export async function peekDeadLetters(amqp: AmqpConnection, topology: TopologyOptions): Promise<DeadLetter[]> {
  const ch = await amqp.createChannel();
  const out: DeadLetter[] = [];
  try {
    for (const kind of WORKER_KINDS) {
      for (const q of queuesOf(topology, kind).filter((q) => q.name.endsWith('.dead'))) {
        for (;;) {
          const m = await ch.get(q.name, { noAck: false });
          if (!m) break;
          const h = (m.properties.headers ?? {}) as Record<string, unknown>;
          const reason = h[HEADER.reason] ?? (Array.isArray(h['x-death']) ? 'delivery-limit' : undefined);
          out.push({ queue: q.name, messageId: m.properties.messageId as string | undefined, type: m.properties.type as string | undefined, reason: typeof reason === 'string' ? reason : Buffer.isBuffer(reason) ? reason.toString('utf8') : reason === undefined ? undefined : JSON.stringify(reason) });
        }
      }
    }
  } finally {
    await ch.close().catch(() => undefined);
  }
  return out;
}
