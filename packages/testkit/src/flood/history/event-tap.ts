import type { Channel, ConsumeMessage } from 'amqplib';
import { AmqpConnection, eventsExchange, HEADER, type Logger } from '@stockflow/shared';
import type { History } from './history';

/**
 * Records every event of the namespace into the history: a durable queue bound to the events
 * exchange with '#', consumed with acks over a reconnecting connection. Unlike a temporary
 * exclusive queue it survives the faults the flood injects (connection drops, a broker
 * restart), so the conservation check never blames the system for an event the tap missed.
 */
export class FloodEventTap {
  private ch: Channel | undefined;
  private last: ConsumeMessage | undefined;
  private unacked = 0;
  private timer: NodeJS.Timeout | undefined;
  received = 0;

  private constructor(
    private readonly conn: AmqpConnection,
    readonly queue: string,
    private readonly history: History,
  ) {}

  static queueName(namespace: string, tag: string): string {
    return `${namespace}.flood-${tag}.tap`;
  }

  /** With `quorumGroupSize` (a cluster) the tap is a quorum queue: a classic one is lost while its node is down. */
  static async open(opts: { amqpUrl: string; namespace: string; tag: string; history: History; log: Logger; quorumGroupSize?: number }): Promise<FloodEventTap> {
    const conn = new AmqpConnection({ url: opts.amqpUrl, name: `stockflow-flood:${opts.tag}:tap`, heartbeatS: 10, retryBaseMs: 100, retryMaxMs: 2000, log: opts.log });
    const tap = new FloodEventTap(conn, FloodEventTap.queueName(opts.namespace, opts.tag), opts.history);
    await conn.register(async (c) => {
      const ch = await c.createChannel();
      ch.on('error', () => undefined);
      ch.on('close', () => {
        if (tap.ch === ch) tap.ch = undefined;
      });
      const type = opts.quorumGroupSize ? { 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': opts.quorumGroupSize } : { 'x-queue-type': 'classic' };
      await ch.assertQueue(tap.queue, { durable: true, arguments: type });
      await ch.bindQueue(tap.queue, eventsExchange(opts.namespace), '#');
      await ch.prefetch(5000);
      tap.ch = ch;
      tap.last = undefined;
      tap.unacked = 0;
      await ch.consume(tap.queue, (m) => m && tap.onMessage(ch, m), { noAck: false });
    });
    await conn.start();
    tap.timer = setInterval(() => tap.flushAck(), 50);
    return tap;
  }

  private onMessage(ch: Channel, m: ConsumeMessage): void {
    if (ch !== this.ch) return;
    const headers = (m.properties.headers ?? {}) as Record<string, unknown>;
    let payload: Record<string, unknown> = {};
    try {
      payload = JSON.parse(m.content.toString('utf8')) as Record<string, unknown>;
    } catch {
      // A malformed event is still an event; its effect simply cannot be read.
    }
    const cause = headers[HEADER.causationId];
    this.history.recordEvent({
      id: String(m.properties.messageId),
      type: String(m.properties.type),
      cause: typeof cause === 'string' ? cause : Buffer.isBuffer(cause) ? cause.toString('utf8') : undefined,
      t: Date.now(),
      payload,
    });
    this.received++;
    this.last = m;
    if (++this.unacked >= 1000) this.flushAck();
  }

  private flushAck(): void {
    if (!this.ch || !this.last) return;
    try {
      this.ch.ack(this.last, true);
    } catch {
      // The channel is closing: the broker redelivers, the history deduplicates.
    }
    this.last = undefined;
    this.unacked = 0;
  }

  /** Events still waiting in the tap queue (0 = the history has everything published so far). */
  async backlog(): Promise<number> {
    const ch = await this.conn.createChannel();
    try {
      return (await ch.checkQueue(this.queue)).messageCount;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  /** Waits until the tap queue is empty twice in a row. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let empties = 0;
    while (Date.now() < deadline) {
      const n = await this.backlog().catch(() => -1);
      empties = n === 0 ? empties + 1 : 0;
      if (empties >= 2) return true;
      await new Promise((r) => setTimeout(r, 250));
    }
    return false;
  }

  async close(opts: { deleteQueue: boolean }): Promise<void> {
    clearInterval(this.timer);
    this.flushAck();
    if (opts.deleteQueue && this.conn.isConnected) {
      const ch = await this.conn.createChannel().catch(() => undefined);
      if (ch) {
        ch.on('error', () => undefined);
        await ch.deleteQueue(this.queue).catch(() => undefined);
        await ch.close().catch(() => undefined);
      }
    }
    await this.conn.close();
  }
}
