import type { Logger } from '../logger';
import { contracts, newMessageId, newSequenceSession, partitionKeyOf, type Envelope, type MessageType, type Payload } from '../contracts';
import { ValidationError } from '../errors';
import { propertiesOf } from './codec';
import { AmqpConnection } from './connection';
import { ConfirmPublisher, type PublishProperties } from './confirm-publisher';
import { isMandatory, routeOf } from './topology';

export interface SendOptions {
  /** The idempotency key. Re-sending with the same id is safe: it is applied at most once. */
  messageId?: string;
  correlationId?: string;
  causationId?: string;
  /** Per-partition-key sequence; the publisher numbers keys itself when autoSequence is on. */
  sequence?: number;
  /** The numbering `sequence` belongs to (default: this publisher's own session). */
  sequenceSession?: string;
  occurredAt?: string;
  headers?: Record<string, unknown>;
}

export interface SendResult {
  messageId: string;
  exchange: string;
  routingKey: string;
  partition: number;
  partitionKey: string;
  sequence?: number;
}

export interface PublisherOptions {
  amqpUrl: string;
  namespace: string;
  partitions: number;
  log: Logger;
  /** Connection name on the broker. */
  name?: string;
  /**
   * Number messages per partition key (1, 2, 3 …) when the caller gives no sequence, in a
   * numbering (session) of this publisher's own: a restart starts a new one at 1.
   */
  autoSequence?: boolean;
  heartbeatS?: number;
}

/**
 * Typed publisher for upstream services:
 *   await publisher.send('ReceiveStock', { productId, warehouseId, quantity }, { messageId })
 * validates the payload, computes the partition, sets the envelope properties and resolves
 * only when the broker confirmed the message (routed, persisted).
 */
export class Publisher {
  private readonly sequences = new Map<string, number>();
  /** This publisher's numbering: workers order a key's messages within it. */
  readonly sequenceSession = newSequenceSession();

  private constructor(
    private readonly opts: PublisherOptions,
    private readonly conn: AmqpConnection,
    private readonly confirm: ConfirmPublisher,
  ) {}

  static async connect(opts: PublisherOptions): Promise<Publisher> {
    const conn = new AmqpConnection({
      url: opts.amqpUrl,
      name: opts.name ?? 'stockflow-publisher',
      heartbeatS: opts.heartbeatS ?? 10,
      retryBaseMs: 100,
      retryMaxMs: 3000,
      log: opts.log,
    });
    const confirm = new ConfirmPublisher(conn, opts.log);
    await conn.start();
    await confirm.start();
    return new Publisher(opts, conn, confirm);
  }

  /** The envelope and route a send would use, without sending (also used by the outbox). */
  prepare<T extends MessageType>(type: T, payload: Payload<T>, options: SendOptions = {}): { envelope: Envelope; route: ReturnType<typeof routeOf>; body: Buffer } {
    const parsed = contracts[type].schema.safeParse(payload);
    if (!parsed.success) throw new ValidationError(type, parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`));
    const partitionKey = partitionKeyOf(type, payload);
    const messageId = options.messageId ?? newMessageId();
    let sequence = options.sequence;
    if (sequence === undefined && this.opts.autoSequence) {
      sequence = (this.sequences.get(partitionKey) ?? 0) + 1;
      this.sequences.set(partitionKey, sequence);
    }
    const envelope: Envelope = {
      messageId,
      type,
      version: contracts[type].version,
      occurredAt: options.occurredAt ?? new Date().toISOString(),
      correlationId: options.correlationId ?? messageId,
      partitionKey,
    };
    if (options.causationId !== undefined) envelope.causationId = options.causationId;
    if (sequence !== undefined) {
      envelope.sequence = sequence;
      envelope.sequenceSession = options.sequenceSession ?? this.sequenceSession;
    }
    return { envelope, route: routeOf(this.opts, type, partitionKey), body: Buffer.from(JSON.stringify(payload)) };
  }

  async send<T extends MessageType>(type: T, payload: Payload<T>, options: SendOptions = {}): Promise<SendResult> {
    const { envelope, route, body } = this.prepare(type, payload, options);
    await this.confirm.publish(route.exchange, route.routingKey, body, { ...propertiesOf(envelope, options.headers), mandatory: isMandatory(type) });
    const result: SendResult = { messageId: envelope.messageId, exchange: route.exchange, routingKey: route.routingKey, partition: route.partition, partitionKey: envelope.partitionKey };
    if (envelope.sequence !== undefined) result.sequence = envelope.sequence;
    return result;
  }

  /**
   * Publishes bytes as they are, for webhooks (signed raw bodies) and for tests that must send
   * what the typed API refuses to build (malformed JSON, unknown types, oversized bodies).
   */
  async sendRaw(exchange: string, routingKey: string, body: Buffer, properties: PublishProperties): Promise<void> {
    await this.confirm.publish(exchange, routingKey, body, properties);
  }

  get connection(): AmqpConnection {
    return this.conn;
  }

  async close(): Promise<void> {
    await this.confirm.stop();
    await this.conn.close();
  }
}
