import type { ConsumeMessage } from 'amqplib';
import { contractOf, contracts, isMessageType, newMessageId, type Contract, type Envelope, type MessageType, type Payload } from './contracts';
import { KeySequences } from './key-sequences';
import { PermanentMessageError, PublishError, ValidationError } from './errors';
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
  /**
   * amqp://user:password@host:port/vhost of the deployment's broker; for a cluster, its nodes as
   * an array or as URLs separated by commas. The publisher connects to one of them and moves
   * to the next when the connection is lost. A bad URL rejects connect() with a BrokerUrlError.
   */
  url: string | readonly string[];
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
  private readonly sequences = new KeySequences();
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

  /** This publisher's numbering: workers order a key's messages within it. */
  get sequenceSession(): string {
    return this.sequences.session;
  }

  /**
   * The message a send would publish, checked the way the consuming worker checks it, without
   * sending it and without using up a sequence number. Throws ValidationError.
   */
  prepare<T extends MessageType>(type: T, payload: Payload<T>, options: SendOptions = {}): Prepared {
    return this.build(type, payload, options, false);
  }

  private build<T extends MessageType>(type: T, payload: Payload<T>, options: SendOptions, take: boolean): Prepared {
    if (!isMessageType(type)) throw new ValidationError(String(type), [`type: unknown type ${String(type)} (known: ${Object.keys(contracts).join(', ')})`]);
    const parsed = contracts[type].schema.safeParse(payload);
    if (!parsed.success) throw new ValidationError(type, parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`));
    const partitionKey = contractOf(type)!.partitionKey(parsed.data);
    const messageId = options.messageId ?? newMessageId();
    const required = Object.entries((contracts[type] as Contract).requiredHeaders ?? {});
    const missing = required.filter(([h]) => options.headers?.[h] === undefined);
    if (missing.length > 0) throw new ValidationError(type, missing.map(([h, why]) => `${h}: required, ${why}`));
    // Looked at first, taken only once the message passed every check: a refused message uses up no number.
    const numbered = options.sequence === undefined && this.opts.autoSequence;
    const auto = numbered ? this.sequences.number(partitionKey, messageId, options.sequenceSession, false) : undefined;
    const sequence = auto?.sequence ?? options.sequence;
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
      envelope.sequenceSession = auto?.session ?? options.sequenceSession ?? this.sequences.session;
    }
    const body = Buffer.from(JSON.stringify(payload));
    const properties = propertiesOf(envelope, injectTraceContext({ ...options.headers }));
    checkAsWorker(type, body, properties, this.opts.maxMessageBytes);
    if (numbered && take) this.sequences.number(partitionKey, messageId, options.sequenceSession, true);
    return { envelope, route: routeOf(this.opts, type, partitionKey), body, properties };
  }

  async send<T extends MessageType>(type: T, payload: Payload<T>, options: SendOptions = {}): Promise<SendResult> {
    return inSendSpan(type, options.messageId, async () => {
      const { envelope, route, body, properties } = this.build(type, payload, options, true);
      await withinMs(this.confirm.publish(route.exchange, route.routingKey, body, { ...properties, mandatory: isMandatory(type) }), this.opts.sendTimeoutMs, () => new PublishError(`no confirm from the broker within ${this.opts.sendTimeoutMs} ms (it may still take the message: send it again with the same messageId)`, 'timeout'));
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

/** `work`, or `timeout()` thrown once `ms` passed without it settling. */
async function withinMs<R>(work: Promise<R>, ms: number, timeout: () => Error): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(timeout()), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
