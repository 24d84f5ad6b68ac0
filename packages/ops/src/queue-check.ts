import type { OpsContext } from './context';
import type { QueueStats } from './management';

/**
 * Ready count and consumers of each queue over AMQP, exact at this moment (a queue that does not
 * exist is left out). The fallback when the management API is down.
 */
export async function checkQueues(ctx: OpsContext, names: string[]): Promise<Map<string, QueueStats>> {
  const conn = await ctx.amqp();
  const out = new Map<string, QueueStats>();
  for (const name of names) {
    const ch = await conn.createChannel();
    try {
      const q = await ch.checkQueue(name);
      out.set(name, { name, messages: q.messageCount, ready: q.messageCount, unacked: NaN, consumers: q.consumerCount, redelivered: NaN });
      await ch.close();
    } catch {
      // 404: the queue does not exist (the channel is closed by the broker)
    }
  }
  return out;
}
