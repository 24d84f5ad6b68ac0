import * as amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { eventsExchange, HEADER, type Logger } from '@stockflow/shared';

export interface TappedEvent {
  messageId: string;
  type: string;
  correlationId: string;
  causationId: string | undefined;
  partitionKey: string | undefined;
  routingKey: string;
  /** The AMQP properties as they arrived, headers included. */
  properties: amqp.MessageProperties;
  payload: Record<string, unknown>;
  receivedAt: number;
}

/** Watches every event published to a namespace's events exchange. */
export class EventTap {
  readonly events: TappedEvent[] = [];

  private constructor(
    private readonly conn: ChannelModel,
    private readonly ch: Channel,
  ) {}

  static async open(url: string, namespace: string, log: Logger): Promise<EventTap> {
    const conn = await amqp.connect(url, { noDelay: true });
    conn.on('error', (err: Error) => log.warn({ err: err.message }, 'tap connection error'));
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    await ch.bindQueue(queue, eventsExchange(namespace), '#');
    const tap = new EventTap(conn, ch);
    await ch.consume(
      queue,
      (m) => {
        if (!m) return;
        const h = (m.properties.headers ?? {}) as Record<string, unknown>;
        tap.events.push({
          messageId: String(m.properties.messageId),
          type: String(m.properties.type),
          correlationId: String(m.properties.correlationId),
          causationId: h[HEADER.causationId] as string | undefined,
          partitionKey: h[HEADER.partitionKey] as string | undefined,
          routingKey: m.fields.routingKey,
          properties: m.properties,
          payload: JSON.parse(m.content.toString()) as Record<string, unknown>,
          receivedAt: Date.now(),
        });
      },
      { noAck: true },
    );
    return tap;
  }

  ofType(type: string): TappedEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  /** Of one type, or of all; distinct by messageId: the relay is at-least-once, so a tap may see a republish. */
  distinct(type?: string): TappedEvent[] {
    const seen = new Map<string, TappedEvent>();
    for (const e of type === undefined ? this.events : this.ofType(type)) if (!seen.has(e.messageId)) seen.set(e.messageId, e);
    return [...seen.values()];
  }

  async waitFor(predicate: (events: TappedEvent[]) => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      if (Date.now() > deadline) {
        const counts = this.events.reduce<Record<string, number>>((acc, e) => ({ ...acc, [e.type]: (acc[e.type] ?? 0) + 1 }), {});
        throw new Error(`timed out waiting for events; saw ${JSON.stringify(counts)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async waitForCount(type: string, n: number, timeoutMs = 20_000): Promise<TappedEvent[]> {
    await this.waitFor(() => this.distinct(type).length >= n, timeoutMs);
    return this.distinct(type);
  }

  async close(): Promise<void> {
    await this.ch.close().catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }
}
