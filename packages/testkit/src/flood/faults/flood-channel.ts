import type { Channel } from 'amqplib';
import type { AmqpConnection } from '@stockflow/shared';

/** How long a fault's broker call is tried again while the flood's connection is away. */
const RETRY_FOR_MS = 30_000;
const RETRY_EVERY_MS = 200;

/**
 * Runs `fn` on a fresh channel of the flood's own connection, closed after. On a cluster that
 * connection moves to another node when a node fault takes its node away, so a call that
 * fails is tried again on a new channel for a while: a fault's undo (a binding put back)
 * must not be lost to the fault running beside it.
 */
export async function onFloodChannel<T>(amqp: AmqpConnection, fn: (ch: Channel) => Promise<T>): Promise<T> {
  const deadline = Date.now() + RETRY_FOR_MS;
  for (;;) {
    try {
      const ch = await amqp.createChannel();
      ch.on('error', () => undefined);
      try {
        return await fn(ch);
      } finally {
        await ch.close().catch(() => undefined);
      }
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, RETRY_EVERY_MS));
    }
  }
}
