/**
 * PartitionConsumer as a state machine: its lifecycle, its subscription, the counters that keep
 * deliveries of a dead channel from being acked on a live one, and the batch loop.
 *
 * Lifecycle (`state`)
 *   idle --start()--> running --stop()--> draining --> stopped      idle --stop()--> stopped
 *   - running: subscribes, buffers deliveries, starts batches.
 *   - draining: no new batch starts and whatever still arrives is dropped (left unacked); the
 *     batch in hand finishes and acks on its channel; a subscription in flight lands; then the
 *     channel closes and the broker hands the rest, in order, to the next consumer.
 *     stop({ force }) also aborts `signal`, which cuts the retries inside process() short.
 *   - stopped: final.
 *
 * Subscription (while running), from `ch`, `probation` and `credit`
 *   - unsubscribed: no channel. Before the connection is up; after the channel closed, until
 *     the reconnect's setup or the resubscribe timer subscribes again; between closeChannel()
 *     and the next subscribe in endProbation() and giveBack().
 *   - probation: consuming with prefetch 1 (`credit` 1). Every subscription starts here when
 *     prefetch > 1, except the one endProbation() makes (`widening`).
 *   - full: consuming with the configured prefetch (`credit` = prefetch).
 *   Transitions:
 *   - unsubscribed --subscribe(connGen)--> probation; full when `widening` or prefetch is 1.
 *   - probation --a batch commits with every delivery fresh (not redelivered) and current, or
 *     the DeliveryOrder holds back all there is--> endProbation(): closeChannel(), then
 *     subscribe with `widening` --> full, on a new channel.
 *   - probation --a batch with a redelivered delivery commits--> probation: the suspects a
 *     crash returned go through one at a time.
 *   - probation | full --giveBack()--> closeChannel(), subscribe --> probation.
 *   - probation | full --the channel's 'close' (the broker cancelled our consumer and we closed
 *     the channel; a channel error; the connection died; process() threw and we closed it)-->
 *     unsubscribed. 200 ms later the resubscribe timer subscribes again, but only on the same
 *     connection and if it is still up: a new connection's setup subscribes by itself.
 *   - any --a new connection's setup runs subscribe(newConnGen)--> the old channel closed, a new
 *     subscription.
 *   subscribe() is serialized on `subscribing` (one doSubscribe at a time) and idempotent per
 *   connection: when a channel is open on that connection generation it is kept.
 *
 * Counters
 *   - gen, the channel generation: bumped whenever the channel is dropped or replaced
 *     (doSubscribe, closeChannel, the channel's 'close', stop). Every Delivery carries the
 *     generation it arrived on; ack() and isStale() compare it with the current one, since a
 *     delivery tag means something only on the channel that delivered it: on the next channel
 *     the same number names another message, and an unknown one makes the broker close the
 *     channel. The consume callback and the buffer drop deliveries of older generations.
 *   - chConnGen, the AmqpConnection generation `ch` was opened on: makes subscribe(connGen) a
 *     no-op while we consume on that connection, so a reconnect setup and a resubscribe never
 *     leave two consumers (single active consumer could make the orphan one active, and the
 *     partition would stall behind deliveries nobody reads).
 *   - consumerEpoch, bumped per consume(): the callback of any consume but the latest drops its
 *     deliveries. Each channel carries one consume, so it moves in step with `gen`.
 *   The resubscribe timer also holds the connection generation of the moment the channel
 *   closed and stands down once another connection came up.
 *
 * Batch loop (run(), one per consumer, while running)
 *   waiting: buffer empty; a delivery or stop() wakes it (idleWait)
 *   -> collecting: fewer than batchSize buffered, sleep batchWaitMs
 *   -> selecting (nextBatch): the buffer's head, or what the DeliveryOrder releases; when it
 *      releases nothing: idle up to retryInMs, or on probation end probation at once
 *   -> applying: `current` is the batch, `acked` what process() acked of it; process() acks and
 *      must not throw (if it does, the channel is closed so the broker redelivers all it held,
 *      and the loop pauses 500 ms)
 *   -> waiting
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../logger';
import { type AmqpConnection, closeWithin, sleep } from '@stockflow/client/internal';
import { WakeableSleep } from '../util/wakeable-sleep';

export interface Delivery {
  readonly msg: ConsumeMessage;
  /** Channel generation the delivery tag belongs to. */
  readonly generation: number;
  readonly receivedAt: number;
}

export interface BatchControl {
  /** Acks this delivery (and with `upTo` every earlier one on its channel). Dropped when stale. */
  ack(d: Delivery, upTo?: boolean): void;
  /** True when the delivery's channel is gone: its redelivery is on the way, stop working on it. */
  isStale(d: Delivery): boolean;
  /**
   * Gives every unacked delivery back to the broker (the channel closes; the queue hands them
   * out again in order, to this or another consumer, and x-delivery-limit counts each return),
   * then subscribes again. For a batch that cannot go on and must not wait forever.
   */
  giveBack(): void;
  /** Aborted only when the consumer is forced down (grace period over). */
  readonly signal: AbortSignal;
}

export interface Selection {
  /** What to apply next, in this order (a subset of the buffer). */
  take: Delivery[];
  /** Something is held back: look again after this long even if nothing new arrives. */
  retryInMs?: number;
}

/**
 * Decides the order deliveries are applied in, and may hold some back (unacked) while the rest
 * flows; see Resequencer. Without one, the buffer is applied in arrival order.
 */
export interface DeliveryOrder {
  /** `full`: the buffer holds the whole prefetch, so nothing more arrives until something is acked. */
  select(buffer: readonly Delivery[], opts: { max: number; full: boolean }): Promise<Selection>;
  /** These deliveries were acked (applied, duplicate or dead-lettered). */
  consumed(deliveries: readonly Delivery[]): void;
  /** A new subscription starts: another consumer may have applied messages meanwhile. */
  reset(): void;
}

/** What the consumer uses of its connection: an AmqpConnection, or FakeAmqp in unit specs. */
export type ConsumerConnection = Pick<AmqpConnection, 'register' | 'createChannel' | 'generation' | 'isConnected'>;

export interface PartitionConsumerOptions {
  conn: ConsumerConnection;
  queue: string;
  partition: number;
  prefetch: number;
  batchSize: number;
  batchWaitMs: number;
  log: Logger;
  order?: DeliveryOrder;
  /** Told of each delivery as it arrives, long before its batch is applied: work that may start early. */
  arrived?(d: Delivery): void;
  /** Must apply the batch in order and ack; must not throw (it retries transient failures itself). */
  process(batch: Delivery[], ctl: BatchControl): Promise<void>;
}

type State = 'idle' | 'running' | 'draining' | 'stopped';

/**
 * Consumes one partition queue and applies its deliveries strictly in order.
 *
 * amqplib calls the consume callback per message and does not wait for async work, so with
 * prefetch > 1 a naive handler runs several messages of one partition at once and per-key
 * order is gone. Here the callback only appends to a buffer; one loop takes batches from the
 * head and awaits each before the next.
 *
 * MUST hold: a batch is acked only after `process` committed it; after a reconnect, deliveries
 * of the old channel are dropped from the buffer and never acked (their redeliveries arrive on
 * the new channel, and the inbox absorbs anything that was in fact committed).
 */
export class PartitionConsumer {
  private state: State = 'idle';
  private ch: Channel | undefined;
  /** Connection generation `ch` was opened on. */
  private chConnGen = -1;
  /** Channel generation: deliveries of another one are never acked. */
  private gen = 0;
  /** The last subscription, in flight or done: the next one starts after it. */
  private subscribing: Promise<void> = Promise.resolve();
  /** Bumped per consume: deliveries of a cancelled consumer are dropped. */
  private consumerEpoch = 0;
  /** The current subscription consumes with prefetch 1 (see doSubscribe). */
  private probation = false;
  /** The next subscription skips probation: it replaces a probation channel that proved itself. */
  private widening = false;
  private buffer: Delivery[] = [];
  /** The batch being processed, and which of it has been acked. */
  private current: Delivery[] = [];
  private readonly acked = new Set<Delivery>();
  /** Prefetch of the current subscription. */
  private credit = 0;
  private readonly idleWait = new WakeableSleep();
  private loop: Promise<void> | undefined;
  private unregister: (() => void) | undefined;
  private readonly abort = new AbortController();
  private resubscribeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PartitionConsumerOptions) {}

  get partition(): number {
    return this.opts.partition;
  }

  get queue(): string {
    return this.opts.queue;
  }

  get buffered(): number {
    return this.buffer.length;
  }

  get subscribed(): boolean {
    return this.ch !== undefined;
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.loop = this.run();
    this.unregister = await this.opts.conn.register((_conn, connGen) => this.subscribe(connGen));
  }

  /**
   * Drain-first stop: no new batch starts, the one in flight commits and acks, then the
   * channel closes so the broker hands the unprocessed rest (in order) to the next consumer.
   * `abortAfterMs` bounds the drain: a batch still in hand then (retrying a dependency that is
   * down) has its retries cut short, as `force` does at once, and goes back to the queue unacked.
   * Resolves true when the bound cut a batch short.
   */
  async stop(opts: { force?: boolean; abortAfterMs?: number } = {}): Promise<boolean> {
    if (this.state === 'idle') {
      this.state = 'stopped';
      return false;
    }
    if (this.state === 'stopped') return false;
    this.state = 'draining';
    if (opts.force) this.abort.abort();
    let cut = false;
    const bound =
      opts.abortAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            cut = true;
            this.opts.log.warn({ queue: this.opts.queue, partition: this.opts.partition, afterMs: opts.abortAfterMs }, 'the batch in hand outlasted the drain bound: its retries are cut short and its deliveries go back to the queue');
            this.abort.abort();
          }, opts.abortAfterMs);
    this.unregister?.();
    this.idleWait.wake();
    await this.loop;
    clearTimeout(bound);
    clearTimeout(this.resubscribeTimer);
    // A subscription in flight (reconnect setup, resubscribe timer) must land before we close:
    // finishing after us, it would leave a consumer nobody reads, which single active consumer
    // may make the partition's active one, holding its deliveries unacked (the partition stalls).
    await this.subscribing.catch(() => undefined);
    this.buffer = [];
    const ch = this.ch;
    this.ch = undefined;
    this.gen++;
    await closeWithin(ch);
    this.state = 'stopped';
    return cut;
  }

  /** Force-aborts an in-flight retry loop (used when the shutdown grace period is over). */
  forceAbort(): void {
    this.abort.abort();
  }

  /**
   * Serialized and idempotent per connection: two subscriptions on one connection would leave
   * an orphan consumer that single-active-consumer may pick as the active one, whose
   * deliveries nobody processes -- the partition would stall.
   */
  private subscribe(connGen: number): Promise<void> {
    this.subscribing = this.subscribing.catch(() => undefined).then(() => this.doSubscribe(connGen));
    return this.subscribing;
  }

  private async doSubscribe(connGen: number): Promise<void> {
    if (this.state !== 'running') return;
    if (this.ch && this.chConnGen === connGen) return;
    const old = this.ch;
    this.ch = undefined;
    await closeWithin(old);
    const ch = await this.opts.conn.createChannel();
    if (this.state !== 'running') {
      // stop() ran while the channel opened: never consume on it.
      await closeWithin(ch);
      return;
    }
    const generation = ++this.gen;
    this.ch = ch;
    this.chConnGen = connGen;
    this.buffer = this.buffer.filter((d) => d.generation === generation);
    ch.on('close', () => this.onChannelClosed(ch));
    // Probation: every subscription starts with prefetch 1 and widens after its first batch
    // commits. A connection or process lost mid-batch returns every prefetched delivery and
    // quorum queues count that against x-delivery-limit; without probation, a message that
    // crashes its consumer every time would carry its innocent prefetched neighbours into the
    // dead queue with it. With it, only the crashing head message keeps getting returned.
    this.probation = this.opts.prefetch > 1 && !this.widening;
    this.opts.order?.reset();
    this.credit = this.probation ? 1 : this.opts.prefetch;
    await this.consume(ch, generation, this.credit);
    this.opts.log.debug({ queue: this.opts.queue, generation, probation: this.probation }, 'subscribed');
  }

  private async consume(ch: Channel, generation: number, prefetch: number): Promise<void> {
    await ch.prefetch(prefetch);
    const epoch = ++this.consumerEpoch;
    await ch.consume(
      this.opts.queue,
      (msg) => {
        if (msg === null) {
          // Broker-side cancel (queue deleted or failed over): resubscribe on a fresh channel.
          this.opts.log.warn({ queue: this.opts.queue }, 'consumer cancelled by broker');
          void closeWithin(ch);
          return;
        }
        if (generation !== this.gen || epoch !== this.consumerEpoch || this.state !== 'running') return;
        const d: Delivery = { msg, generation, receivedAt: Date.now() };
        this.buffer.push(d);
        this.opts.arrived?.(d);
        this.idleWait.wake();
      },
      { noAck: false },
    );
  }

  /**
   * The first batch committed: subscribe again with the full prefetch, on a new channel.
   *
   * Not basic.cancel + nack-requeue on the same channel: under single active consumer a cancel
   * makes the next waiting consumer (another owner during a handover) active while we still
   * hold our unacked probation delivery, so that consumer receives the messages behind it
   * first and the returned one after them: a per-key order violation.
   * Closing the channel returns what we hold and hands the queue over in one step, and a
   * quorum queue delivers returned messages before the rest.
   */
  private async endProbation(): Promise<void> {
    this.probation = false;
    const connGen = await this.closeChannel();
    if (connGen === undefined) return;
    this.widening = true;
    try {
      await this.subscribe(connGen);
      this.opts.log.debug({ queue: this.opts.queue, generation: this.gen }, 'probation over: full prefetch');
    } catch (err) {
      // The connection is going down; its reconnect subscribes us again (with probation).
      this.opts.log.warn({ err: (err as Error).message, queue: this.opts.queue }, 'could not widen prefetch; the reconnect resubscribes');
    } finally {
      this.widening = false;
    }
  }

  /**
   * Closes our channel (the broker takes back every delivery we hold, in order) and forgets its
   * deliveries; the connection generation to subscribe on again, or undefined when there was no
   * channel or the consumer is stopping.
   */
  private async closeChannel(): Promise<number | undefined> {
    const ch = this.ch;
    const connGen = this.chConnGen;
    if (!ch) return undefined;
    this.ch = undefined;
    this.gen++;
    this.buffer = [];
    await closeWithin(ch);
    return this.state === 'running' ? connGen : undefined;
  }

  private onChannelClosed(ch: Channel): void {
    this.opts.log.debug({ queue: this.opts.queue, current: this.ch === ch, buffered: this.buffer.length }, 'partition channel closed');
    if (this.ch !== ch) return;
    this.ch = undefined;
    this.gen++;
    // Deliveries of the dead channel will be redelivered; their tags are meaningless now.
    this.buffer = [];
    if (this.state !== 'running') return;
    // If only our channel died (broker cancel, channel error) the connection lives on and
    // nobody else will resubscribe us. If the connection died, its reconnect setup will, and
    // the generation check below keeps us from subscribing a second time.
    const connGen = this.opts.conn.generation;
    clearTimeout(this.resubscribeTimer);
    this.resubscribeTimer = setTimeout(() => {
      if (this.state === 'running' && this.opts.conn.isConnected && this.opts.conn.generation === connGen && !this.ch) {
        this.subscribe(connGen).catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message, queue: this.opts.queue }, 'resubscribe failed'));
      }
    }, 200);
  }

  private readonly control: BatchControl = {
    ack: (d, upTo = false) => {
      if (d.generation !== this.gen || !this.ch) return;
      // `upTo` means this delivery and every one before it in the batch. The batch may be in
      // another order than the delivery tags (see DeliveryOrder), so the broker's multiple-ack
      // (every unacked tag up to this one) is used only when it covers exactly those.
      const idx = upTo ? this.current.indexOf(d) : -1;
      const covered = idx >= 0 ? this.current.slice(0, idx + 1).filter((c) => !this.acked.has(c)) : [d];
      if (covered.length === 0) return;
      const top = covered.reduce((a, b) => (b.msg.fields.deliveryTag > a.msg.fields.deliveryTag ? b : a));
      const topTag = top.msg.fields.deliveryTag;
      const mine = new Set(covered);
      const others = (x: Delivery) => x.generation === d.generation && !mine.has(x) && !this.acked.has(x) && x.msg.fields.deliveryTag < topTag;
      const multiple = covered.length > 1 && !this.buffer.some(others) && !this.current.some(others);
      try {
        if (multiple) this.ch.ack(top.msg, true);
        else for (const c of covered) this.ch.ack(c.msg);
        for (const c of covered) this.acked.add(c);
      } catch (err) {
        this.opts.log.debug({ err: (err as Error).message }, 'ack on closing channel dropped');
      }
    },
    isStale: (d) => d.generation !== this.gen || !this.ch,
    giveBack: () => void this.giveBack(),
    signal: this.abort.signal,
  };

  /** Closes the channel (the broker takes back what we hold, in order) and subscribes anew, with probation. */
  private async giveBack(): Promise<void> {
    const connGen = await this.closeChannel();
    if (connGen === undefined) return;
    try {
      await this.subscribe(connGen);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, queue: this.opts.queue }, 'could not subscribe after giving deliveries back; the reconnect resubscribes');
    }
  }

  /**
   * The buffer's head (arrival order), or what the DeliveryOrder releases. When it holds
   * everything back, says how long to wait for a new delivery; under probation (prefetch 1)
   * nothing new can come, so probation ends at once and the full prefetch brings the rest.
   */
  private async nextBatch(): Promise<{ batch: Delivery[]; idleMs?: number; pauseMs?: number }> {
    const order = this.opts.order;
    if (!order) return { batch: this.buffer.splice(0, this.opts.batchSize) };
    const before = this.buffer.length;
    let sel: Selection;
    try {
      sel = await order.select(this.buffer, { max: this.opts.batchSize, full: !this.probation && this.buffer.length >= this.credit });
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, queue: this.opts.queue }, 'could not order the buffered deliveries; retrying');
      return { batch: [], pauseMs: 500 };
    }
    if (sel.take.length > 0) {
      const taken = new Set(sel.take);
      this.buffer = this.buffer.filter((d) => !taken.has(d));
      return { batch: sel.take.filter((d) => d.generation === this.gen) };
    }
    if (this.probation && this.state === 'running') {
      await this.endProbation();
      return { batch: [] };
    }
    // Something arrived (or the channel went) while select() ran: look again at once.
    if (this.buffer.length !== before || this.state !== 'running') return { batch: [] };
    return { batch: [], idleMs: sel.retryInMs ?? 1000 };
  }

  /** Sleeps up to `ms`, cut short by a new delivery or stop(). */
  private idle(ms: number): Promise<void> {
    return this.idleWait.sleep(ms);
  }

  private async apply(batch: Delivery[]): Promise<void> {
    this.opts.log.trace({ queue: this.opts.queue, size: batch.length }, 'batch start');
    this.current = batch;
    this.acked.clear();
    await this.opts.process(batch, this.control);
    this.opts.order?.consumed([...this.acked]);
    this.current = [];
    this.opts.log.trace({ queue: this.opts.queue }, 'batch done');
    // Probation lasts while the head is a redelivery: every message a crash returned is a
    // suspect and goes through alone; the first fresh delivery ends it.
    if (this.probation && this.state === 'running' && batch.every((d) => !this.control.isStale(d) && !d.msg.fields.redelivered)) {
      await this.endProbation();
    }
  }

  private async run(): Promise<void> {
    while (this.state === 'running') {
      if (this.buffer.length === 0) {
        await this.idleWait.sleep();
        continue;
      }
      if (this.buffer.length < this.opts.batchSize && this.opts.batchWaitMs > 0) {
        await sleep(this.opts.batchWaitMs, this.abort.signal);
        if (this.state !== 'running') break;
      }
      let idleMs: number | undefined;
      let pauseMs: number | undefined;
      let escaped = false;
      try {
        if (this.state !== 'running') break;
        const next = await this.nextBatch();
        ({ idleMs, pauseMs } = next);
        if (next.batch.length > 0) await this.apply(next.batch);
      } catch (err) {
        this.opts.log.error({ err, queue: this.opts.queue }, 'batch processing escaped its error handling; resubscribing');
        escaped = true;
      }
      if (escaped) {
        // process() owns retries; reaching here is a bug. Drop the channel so the broker
        // redelivers everything in order rather than acking past a gap.
        await closeWithin(this.ch);
        await sleep(500);
      } else if (pauseMs !== undefined) {
        await sleep(pauseMs, this.abort.signal);
      } else if (idleMs !== undefined) {
        await this.idle(idleMs);
      }
    }
  }
}
