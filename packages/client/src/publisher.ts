import type { ConsumeMessage } from 'amqplib';
import { contractOf, contracts, isMessageType, newMessageId, newSequenceSession, type Envelope, type MessageType, type Payload } from './contracts';
import { PermanentMessageError, ValidationError } from './errors';
import { AmqpConnection } from './amqp/connection';
import { ConfirmPublisher, type PublishProperties } from './amqp/confirm-publisher';
import { silentLogger, type Logger } from './logger';
import { injectTraceContext, inSendSpan } from './tracing';
import { decode, propertiesOf } from './wire/codec';
import { isMandatory, routeOf, type Route } from './wire/routes';

export interface SendOptions {
  /** The idempotency key. Re-sending with the same id is safe: it is applied at most once. */
  messageId?: string;
  correlationId?: string;
  causationId?: string;
  /** Per-partition-key sequence; the publisher numbers keys itself unless autoSequence is off. */
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
  /** amqp://user:password@host:port/vhost of the deployment's broker. */
  url: string;
  /** STOCKFLOW_NAMESPACE of the deployment (default stockflow). */
  namespace?: string;
  /** PARTITIONS of the deployment (default 16): it decides which queue a key lands on. */
  partitions?: number;
  /** Connection name on the broker (management UI, `rabbitmqctl list_connections`). */
  name?: string;
  log?: Logger;
  /**
   * Number messages per partition key (1, 2, 3 …) when the caller gives no sequence, in a
   * numbering (session) of this publisher's own: a restart starts a new one at 1, and the
   * workers repair the order of a key's messages within it. On by default.
   */
  autoSequence?: boolean;
  /** The deployment's MAX_MESSAGE_BYTES: bigger bodies are refused here, not dead-lettered there. */
  maxMessageBytes?: number;
  /** connect() gives up (ConnectError) when the broker is not reached within this time. */
  connectTimeoutMs?: number;
  /** A send waits this long for a connection after the broker went away, then fails. */
  sendTimeoutMs?: number;
  heartbeatS?: number;
}

/**
 * How many recent message ids a publisher remembers the sequence number of: sending a message
 * again (a retry after a timeout) must carry the number it had, or the worker would wait for a
 * number that only the duplicate, already dropped, ever carried.
 */
const REMEMBERED_SEQUENCES = 10_000;

const DEFAULTS = { namespace: 'stockflow', partitions: 16, maxMessageBytes: 256 * 1024, connectTimeoutMs: 10_000, sendTimeoutMs: 30_000, heartbeatS: 10 };
const RECONNECT = { baseMs: 100, maxMs: 3000 };

/** A message ready to go out: what a send would publish, where to. */
export interface Prepared {
  envelope: Envelope;
  route: Route;
  body: Buffer;
  properties: PublishProperties;
}

/**
 * Typed publisher for upstream services:
 *   await publisher.send('ReceiveStock', { productId, warehouseId, quantity }, { messageId })
 * refuses what the workers would dead-letter (type, id, schema, size) with a ValidationError
 * naming the field, computes the partition, numbers the key, and resolves only when the broker
 * confirmed the message (routed to its queue and persisted).
 */
export class Publisher {
  private readonly sequences = new Map<string, number>();
  private readonly sequenceOfId = new Map<string, number>();
  /** This publisher's numbering: workers order a key's messages within it. */
  readonly sequenceSession = newSequenceSession();
  private readonly opts: typeof DEFAULTS & { autoSequence: boolean };

  private constructor(
    opts: PublisherOptions,
    private readonly conn: AmqpConnection,
    private readonly confirm: ConfirmPublisher,
  ) {
    const given = withoutUndefined(opts);
    this.opts = { ...DEFAULTS, autoSequence: true, ...given };
  }

  static async connect(opts: PublisherOptions): Promise<Publisher> {
    const log = opts.log ?? silentLogger;
    const conn = new AmqpConnection({
      url: opts.url,
      name: opts.name ?? 'stockflow-publisher',
      heartbeatS: opts.heartbeatS ?? DEFAULTS.heartbeatS,
      retryBaseMs: RECONNECT.baseMs,
      retryMaxMs: RECONNECT.maxMs,
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      log,
    });
    const confirm = new ConfirmPublisher(conn, log, opts.sendTimeoutMs ?? DEFAULTS.sendTimeoutMs);
    try {
      await conn.start();
      await confirm.start();
    } catch (err) {
      await confirm.stop();
      await conn.close();
      throw err;
    }
    return new Publisher(opts, conn, confirm);
  }

  /**
   * The message a send would publish, checked the way the consuming worker checks it, without
   * sending it (the outbox and tests use it too). Throws ValidationError.
   */
  prepare<T extends MessageType>(type: T, payload: Payload<T>, options: SendOptions = {}): Prepared {
    if (!isMessageType(type)) throw new ValidationError(String(type), [`type: unknown type ${String(type)} (known: ${Object.keys(contracts).join(', ')})`]);
    const parsed = contracts[type].schema.safeParse(payload);
    if (!parsed.success) throw new ValidationError(type, parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`));
    const partitionKey = contractOf(type)!.partitionKey(parsed.data);
    const messageId = options.messageId ?? newMessageId();
    const numbered = options.sequence === undefined && this.opts.autoSequence;
    const sequence = numbered ? (this.sequenceOfId.get(`${partitionKey}\n${messageId}`) ?? (this.sequences.get(partitionKey) ?? 0) + 1) : options.sequence;
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
    const body = Buffer.from(JSON.stringify(payload));
    const properties = propertiesOf(envelope, injectTraceContext({ ...options.headers }));
    checkAsWorker(type, body, properties, this.opts.maxMessageBytes);
    if (numbered) this.remember(partitionKey, messageId, sequence!);
    return { envelope, route: routeOf(this.opts, type, partitionKey), body, properties };
  }

  private remember(partitionKey: string, messageId: string, sequence: number): void {
    if (sequence > (this.sequences.get(partitionKey) ?? 0)) this.sequences.set(partitionKey, sequence);
    const id = `${partitionKey}\n${messageId}`;
    this.sequenceOfId.delete(id);
    this.sequenceOfId.set(id, sequence);
    if (this.sequenceOfId.size > REMEMBERED_SEQUENCES) this.sequenceOfId.delete(this.sequenceOfId.keys().next().value!);
  }

  async send<T extends MessageType>(type: T, payload: Payload<T>, options: SendOptions = {}): Promise<SendResult> {
    return inSendSpan(type, options.messageId, async () => {
      const { envelope, route, body, properties } = this.prepare(type, payload, options);
      await this.confirm.publish(route.exchange, route.routingKey, body, { ...properties, mandatory: isMandatory(type) });
      return resultOf(envelope, route);
    });
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

function resultOf(envelope: Envelope, route: Route): SendResult {
  const result: SendResult = { messageId: envelope.messageId, exchange: route.exchange, routingKey: route.routingKey, partition: route.partition, partitionKey: envelope.partitionKey };
  if (envelope.sequence !== undefined) result.sequence = envelope.sequence;
  return result;
}

/** The consuming worker's own decode over the message: what it would dead-letter is refused here. */
function checkAsWorker(type: string, content: Buffer, properties: PublishProperties, maxBytes: number): void {
  try {
    decode({ content, properties, fields: {} } as unknown as ConsumeMessage, maxBytes);
  } catch (err) {
    if (!(err instanceof PermanentMessageError)) throw err;
    throw new ValidationError(type, [`${err.reason}: ${err.message}`]);
  }
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
