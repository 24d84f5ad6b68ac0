import { EventEmitter } from 'node:events';
import type { Channel, ChannelModel, ConsumeMessage, Message, MessageProperties, Options, Replies } from 'amqplib';
import type { Setup } from '@stockflow/client/internal';
import type { ConsumerConnection } from '../amqp/partition-consumer';

/**
 * A broker in memory behind the AmqpConnection surface, so that code which consumes
 * (PartitionConsumer) is unit-tested without RabbitMQ, in the spirit of amqp-connection-manager's
 * FakeAmqp fixture. It covers what the consumer uses -- register, createChannel, generation,
 * isConnected; a channel's prefetch, consume, ack and close, its 'close' and 'error' events --
 * and the failures the consumer must survive: a broker-side consumer cancel, a channel closed
 * by the broker, a lost connection and its reconnect.
 *
 * It behaves the way RabbitMQ and amqplib do where the consumer's correctness depends on it:
 * - Delivery tags count from 1 on each channel, and an ack names a tag, not a message: a tag
 *   acked on another channel than the one that delivered it settles whatever that channel
 *   delivered under the same number.
 * - An ack of a tag the channel does not hold unacked closes the channel with 406
 *   PRECONDITION_FAILED ('error', then 'close'), a turn later as the broker's Close frame would.
 * - ack on a closing or closed channel throws; once close() was called the channel hands its
 *   consumer nothing more (amqplib ignores every frame but CloseOk while closing).
 * - A channel closed by either side, or by a lost connection, returns its unacked messages to the
 *   queue, in their order and ahead of the rest, marked redelivered (a quorum queue's returns).
 * - Single active consumer: the queue delivers to its oldest consumer only, the others wait.
 * - The prefetch set before consume is that consumer's limit of unacked messages (0: no limit).
 * - Deliveries go out on a later turn of the event loop, every one that fits at once, as frames
 *   read from one socket chunk do.
 */
export class FakeAmqp implements ConsumerConnection {
  /** Every channel ever opened; channel n is channels[n - 1]. */
  readonly channels: FakeChannel[] = [];
  /** Every ack a channel accepted or refused, in order. */
  readonly acks: AckRecord[] = [];
  private gen = 1;
  private connected = true;
  private readonly setups = new Set<Setup>();
  private readonly queues = new Map<string, QueuedMessage[]>();
  private readonly consumers = new Map<string, FakeConsumer[]>();
  private published = 0;
  private dispatchScheduled = false;
  private channelGate: Promise<void> | undefined;

  get generation(): number {
    return this.gen;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** As AmqpConnection: runs the setup now when connected, and again after every reconnect. */
  async register(setup: Setup): Promise<() => void> {
    this.setups.add(setup);
    if (this.connected) await setup(noChannelModel, this.gen);
    return () => this.setups.delete(setup);
  }

  async createChannel(): Promise<Channel> {
    if (!this.connected) throw new Error('amqp not connected');
    const gen = this.gen;
    await this.channelGate;
    if (!this.connected || this.gen !== gen) throw new Error('Connection closed');
    const ch = new FakeChannel(this, this.channels.length + 1);
    // AmqpConnection.createChannel listens for 'error' (and logs it): an 'error' nobody listens
    // for would throw out of the EventEmitter.
    ch.on('error', (err: Error) => ch.errors.push(err));
    this.channels.push(ch);
    // amqplib's Channel has some thirty methods; FakeChannel implements (and the compiler
    // checks) those in ChannelSubset plus EventEmitter's on/emit, all a consumer here calls.
    return ch as unknown as Channel;
  }

  /** Channel opens wait until the returned function is called (a slow broker, a channel in flight). */
  holdChannelOpens(): () => void {
    let release!: () => void;
    this.channelGate = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.channelGate = undefined;
      release();
    };
  }

  /**
   * Puts a message (its id is its body and messageId) at the back of the queue. `redelivered`:
   * it comes back from a consumer that is gone, as after a crash.
   */
  publish(queue: string, id: string, opts: { redelivered?: boolean } = {}): void {
    this.queue(queue).push({ id, seq: ++this.published, redelivered: opts.redelivered ?? false });
    this.scheduleDispatch();
  }

  /** Ids of the messages waiting in the queue, in the order it will deliver them. */
  ready(queue: string): string[] {
    return this.queue(queue).map((m) => m.id);
  }

  /** Channels with a live consumer on the queue, the active one first. */
  consumersOf(queue: string): FakeChannel[] {
    return (this.consumers.get(queue) ?? []).map((c) => c.channel);
  }

  /** The broker cancels every consumer of the queue (queue deleted, leader lost): amqplib calls each one's callback with null. */
  cancelConsumers(queue: string): void {
    for (const c of this.consumers.get(queue) ?? []) {
      this.removeConsumer(c);
      setImmediate(() => c.onMessage(null));
    }
  }

  /** The connection is lost: every channel closes ('close' without 'error', as amqplib's) and returns what it holds. */
  kill(): void {
    this.connected = false;
    for (const ch of this.channels) ch.finish(undefined);
  }

  /** A new connection (the next generation) comes up and every registered setup runs on it, in order. */
  async reconnect(): Promise<void> {
    if (this.connected) this.kill();
    this.gen++;
    this.connected = true;
    for (const setup of [...this.setups]) await setup(noChannelModel, this.gen);
  }

  /** @internal FakeChannel's side of the broker. */
  addConsumer(c: FakeConsumer): void {
    let list = this.consumers.get(c.queue);
    if (!list) this.consumers.set(c.queue, (list = []));
    list.push(c);
    this.scheduleDispatch();
  }

  /** @internal */
  removeConsumer(c: FakeConsumer): void {
    const list = this.consumers.get(c.queue) ?? [];
    const i = list.indexOf(c);
    if (i >= 0) list.splice(i, 1);
    this.scheduleDispatch();
  }

  /** @internal Unacked messages of a closed channel go back ahead of the rest, in their order. */
  requeue(queue: string, returned: QueuedMessage[]): void {
    const q = this.queue(queue);
    for (const m of returned) q.push({ ...m, redelivered: true });
    q.sort((a, b) => a.seq - b.seq);
    this.scheduleDispatch();
  }

  /** @internal */
  scheduleDispatch(): void {
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    setImmediate(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const [queue, list] of this.consumers) {
      const q = this.queue(queue);
      // Single active consumer: only the oldest consumer gets messages, and only while its
      // channel is open (the broker has not yet seen the close of a closing one).
      for (;;) {
        const active = list[0];
        if (!active || q.length === 0 || !active.hasCredit()) break;
        active.deliver(q.shift()!);
      }
    }
  }

  private queue(name: string): QueuedMessage[] {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = []));
    return q;
  }
}

export interface AckRecord {
  channel: number;
  tag: number;
  multiple: boolean;
  /** Ids of the messages the ack settled; empty when the broker refused the tag (406). */
  settled: string[];
}

/** The part of amqplib's Channel FakeChannel implements. */
export type ChannelSubset = Pick<Channel, 'prefetch' | 'consume' | 'ack' | 'close'>;

interface QueuedMessage {
  readonly id: string;
  /** Publish order: returned messages go back to their place. */
  readonly seq: number;
  readonly redelivered: boolean;
}

interface FakeConsumer {
  readonly queue: string;
  readonly tag: string;
  readonly channel: FakeChannel;
  onMessage(msg: ConsumeMessage | null): void;
  hasCredit(): boolean;
  deliver(m: QueuedMessage): void;
}

export class FakeChannel extends EventEmitter implements ChannelSubset {
  state: 'open' | 'closing' | 'closed' = 'open';
  /** Who closed it: the client, the broker (with its reply code), or the lost connection. */
  closedBy: { by: 'client' } | { by: 'broker'; code: number; text: string } | { by: 'connection' } | undefined;
  /** The 'error' events it emitted. */
  readonly errors: Error[] = [];
  /** Every prefetch the client set, in order. */
  readonly prefetches: number[] = [];
  private prefetchCount = 0;
  private nextTag = 1;
  private readonly unacked = new Map<number, { m: QueuedMessage; queue: string }>();
  private readonly mine: FakeConsumer[] = [];

  constructor(
    private readonly broker: FakeAmqp,
    readonly number: number,
  ) {
    super();
  }

  /** Ids of the messages this channel holds unacked, by delivery tag. */
  unackedIds(): string[] {
    return [...this.unacked.entries()].sort(([a], [b]) => a - b).map(([, u]) => u.m.id);
  }

  async prefetch(count: number, _global?: boolean): Promise<Replies.Empty> {
    this.assertOpen();
    this.prefetches.push(count);
    this.prefetchCount = count;
    return {};
  }

  async consume(queue: string, onMessage: (msg: ConsumeMessage | null) => void, options?: Options.Consume): Promise<Replies.Consume> {
    this.assertOpen();
    if (options?.noAck) throw new Error('FakeAmqp: noAck consumers are not simulated');
    const consumerTag = options?.consumerTag ?? `amq.ctag-${this.number}-${this.mine.length + 1}`;
    const prefetch = this.prefetchCount;
    const consumer: FakeConsumer = {
      queue,
      tag: consumerTag,
      channel: this,
      onMessage,
      hasCredit: () => this.state === 'open' && (prefetch === 0 || [...this.unacked.values()].filter((u) => u.queue === queue).length < prefetch),
      deliver: (m) => {
        const deliveryTag = this.nextTag++;
        this.unacked.set(deliveryTag, { m, queue });
        onMessage({
          content: Buffer.from(m.id),
          fields: { deliveryTag, redelivered: m.redelivered, exchange: '', routingKey: queue, consumerTag },
          properties: { ...noProperties, messageId: m.id, headers: {} },
        });
      },
    };
    this.mine.push(consumer);
    this.broker.addConsumer(consumer);
    return { consumerTag };
  }

  ack(message: Message, allUpTo = false): void {
    if (this.state !== 'open') throw new Error(this.state === 'closing' ? 'Channel closing' : 'Channel closed');
    const tag = message.fields.deliveryTag;
    // RabbitMQ wants the named tag itself unacked, with or without `multiple`.
    if (!this.unacked.has(tag)) {
      this.broker.acks.push({ channel: this.number, tag, multiple: allUpTo, settled: [] });
      setImmediate(() => this.closeByBroker(406, `PRECONDITION_FAILED - unknown delivery tag ${tag}`));
      return;
    }
    const tags = allUpTo ? [...this.unacked.keys()].filter((t) => t <= tag).sort((a, b) => a - b) : [tag];
    const settled = tags.map((t) => this.unacked.get(t)!.m.id);
    for (const t of tags) this.unacked.delete(t);
    this.broker.acks.push({ channel: this.number, tag, multiple: allUpTo, settled });
    this.broker.scheduleDispatch();
  }

  /** Resolves a turn later, when the broker's CloseOk would arrive; 'close' is emitted first, as amqplib does. */
  close(): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(this.state === 'closing' ? 'Channel closing' : 'Channel closed'));
    this.state = 'closing';
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        // The connection went first: amqplib rejects what waits for a reply.
        if (this.state === 'closed') return reject(new Error('Channel ended, no reply will be forthcoming'));
        this.finish({ by: 'client' });
        resolve();
      }),
    );
  }

  /** The broker closes the channel (a channel error): 'error', then 'close'. */
  closeByBroker(code: number, text: string): void {
    if (this.state === 'closed') return;
    const err = Object.assign(new Error(`Channel closed by server: ${code} (${text})`), { code });
    this.finish({ by: 'broker', code, text }, err);
  }

  /** @internal Moves to closed: consumers go, unacked messages return to their queues. */
  finish(by: FakeChannel['closedBy'], err?: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closedBy = by ?? { by: 'connection' };
    for (const c of this.mine) this.broker.removeConsumer(c);
    const byQueue = new Map<string, QueuedMessage[]>();
    for (const { m, queue } of this.unacked.values()) byQueue.set(queue, [...(byQueue.get(queue) ?? []), m]);
    this.unacked.clear();
    for (const [queue, ms] of byQueue) this.broker.requeue(queue, ms);
    if (err) this.emit('error', err);
    this.emit('close');
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(this.state === 'closing' ? 'Channel closing' : 'Channel closed');
  }
}

/** Setups get no ChannelModel: the code under test opens its channels through createChannel. */
const noChannelModel = new Proxy({} as ChannelModel, {
  get() {
    throw new Error('FakeAmqp: open channels with createChannel, not through the ChannelModel');
  },
});

const noProperties: MessageProperties = {
  contentType: undefined,
  contentEncoding: undefined,
  headers: undefined,
  deliveryMode: undefined,
  priority: undefined,
  correlationId: undefined,
  replyTo: undefined,
  expiration: undefined,
  messageId: undefined,
  timestamp: undefined,
  type: undefined,
  userId: undefined,
  appId: undefined,
  clusterId: undefined,
};
