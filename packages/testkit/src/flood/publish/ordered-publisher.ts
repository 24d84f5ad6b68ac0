import type { ConfirmChannel, Options } from 'amqplib';
import { replaceChannelAfter, type AmqpConnection, type Logger } from '@stockflow/shared';

const PUB_HEADER = 'x-flood-pub';
/** A message returned unroutable is sent again after this long (its partition's binding may come back)... */
const UNROUTABLE_RETRY_MS = 1_000;
/** ...until it has been unroutable this long. */
const UNROUTABLE_GIVE_UP_MS = 60_000;

export interface OutgoingMessage {
  /** Publish index: retries go out again in this order. */
  i: number;
  exchange: string;
  routingKey: string;
  body: Buffer;
  properties: Options.Publish & { messageId: string };
  onSent(attempt: number): void;
  onConfirmed(): void;
  /** Gave up for good (unroutable for longer than UNROUTABLE_GIVE_UP_MS: the topology is missing). */
  onFailed(reason: string): void;
}

interface InFlight {
  msg: OutgoingMessage;
  attempt: number;
  /** When it first came back unroutable. */
  unroutableSince?: number;
}

/** A route (exchange and routing key) whose returned messages wait to be sent again. */
interface Stall {
  /** Its returned messages waiting for their retry. */
  returned: number;
  /** Its messages queued behind them, in publish order. */
  held: InFlight[];
}

function routeOf(msg: OutgoingMessage): string {
  return `${msg.exchange}\u0000${msg.routingKey}`;
}

export interface OrderedPublisherOptions {
  conn: AmqpConnection;
  log: Logger;
  /** Publishes awaiting a confirm at most. */
  maxInFlight: number;
  /** Publishes per second; 0 = as fast as the broker confirms. */
  rate: number;
}

/**
 * A confirm channel fed by one pump that calls publish() synchronously in queue order, so the
 * bytes on the wire follow the flood's schedule exactly. That is what keeps per-key order
 * without waiting for each confirm: on one channel the broker enqueues a key's messages (one
 * key, one queue) in publish order, and a message can only have been enqueued if every
 * earlier one of its key was. When the channel dies, everything unconfirmed is sent again in
 * its original order: at worst a duplicate (absorbed by the inbox), never an overtaking. A
 * message returned unroutable stalls its route: the route's later messages are held until the
 * returned ones go out again, so none of them overtakes it once the binding is back.
 */
export class OrderedPublisher {
  private ch: ConfirmChannel | undefined;
  private readonly queue: InFlight[] = [];
  private readonly inFlight = new Map<number, InFlight>();
  private readonly returned = new Set<number>();
  private waitingDrain = false;
  private tokens = 0;
  private lastRefill = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private spaceWaiters: (() => void)[] = [];
  private closed = false;
  sent = 0;
  confirmed = 0;
  retried = 0;
  /** Messages waiting to be sent again after coming back unroutable. */
  private readonly later = new Set<InFlight>();
  private readonly stalled = new Map<string, Stall>();
  private openedAt = 0;
  /** The channel being replaced after a nack (see replaceChannelAfter). */
  private recycling: ConfirmChannel | undefined;

  constructor(private readonly opts: OrderedPublisherOptions) {}

  async start(): Promise<void> {
    await this.opts.conn.register(() => this.open());
  }

  private async open(): Promise<void> {
    const ch = await this.opts.conn.createConfirmChannel();
    ch.on('error', (err: Error) => this.opts.log.debug({ err: err.message }, 'flood publish channel error'));
    ch.on('return', (m) => {
      const i = Number(m.properties.headers?.[PUB_HEADER]);
      if (Number.isFinite(i)) this.returned.add(i);
    });
    ch.on('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
    ch.on('close', () => this.onClose(ch));
    this.ch = ch;
    this.openedAt = Date.now();
    this.waitingDrain = false;
    this.pump();
  }

  /** Queued but not yet sent. */
  get queued(): number {
    return this.queue.length;
  }

  get pending(): number {
    let held = 0;
    for (const st of this.stalled.values()) held += st.held.length;
    return this.queue.length + this.inFlight.size + this.later.size + held;
  }

  push(msg: OutgoingMessage): void {
    this.queue.push({ msg, attempt: 0 });
    this.pump();
  }

  /** Resolves when fewer than `n` messages wait to be sent (backpressure for the producer). */
  async space(n: number): Promise<void> {
    while (this.queue.length >= n && !this.closed) await new Promise<void>((r) => this.spaceWaiters.push(r));
  }

  /** Resolves when everything pushed so far is confirmed (or failed for good). */
  async idle(): Promise<void> {
    while (this.pending > 0 && !this.closed) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.idleWaiters.splice(0).forEach((w) => w());
    this.spaceWaiters.splice(0).forEach((w) => w());
  }

  private pump(): void {
    const ch = this.ch;
    while (ch && !this.waitingDrain && this.queue.length > 0 && this.inFlight.size < this.opts.maxInFlight && !this.closed) {
      const stall = this.stalled.get(routeOf(this.queue[0]!.msg));
      if (stall) {
        stall.held.push(this.queue.shift()!);
        continue;
      }
      if (!this.takeToken()) return;
      const item = this.queue.shift()!;
      const { msg } = item;
      item.attempt++;
      this.inFlight.set(msg.i, item);
      msg.onSent(item.attempt);
      this.sent++;
      const headers = { ...(msg.properties.headers as Record<string, unknown>), [PUB_HEADER]: msg.i };
      let ok = true;
      try {
        ok = ch.publish(msg.exchange, msg.routingKey, msg.body, { ...msg.properties, headers, mandatory: true, persistent: true }, (err) => this.settle(ch, item, err));
      } catch {
        // The channel is closing under us: onClose() requeues everything in flight.
        return;
      }
      if (!ok) this.waitingDrain = true;
    }
    if (this.queue.length < 1000) this.spaceWaiters.splice(0).forEach((w) => w());
  }

  private settle(ch: ConfirmChannel, item: InFlight, err: unknown): void {
    if (this.inFlight.get(item.msg.i) !== item) return;
    this.inFlight.delete(item.msg.i);
    const wasReturned = this.returned.delete(item.msg.i);
    if (wasReturned) {
      // As a careful upstream does: a binding somebody removed may come back (or be declared
      // again), and until the message went out again nothing after it on its route may go.
      item.unroutableSince ??= Date.now();
      if (Date.now() - item.unroutableSince > UNROUTABLE_GIVE_UP_MS) item.msg.onFailed('unroutable');
      else {
        const route = routeOf(item.msg);
        const stall = this.stalled.get(route) ?? { returned: 0, held: [] };
        this.stalled.set(route, stall);
        stall.returned++;
        this.later.add(item);
        setTimeout(() => {
          this.later.delete(item);
          stall.held.push(item);
          if (--stall.returned > 0 || this.closed) return;
          this.stalled.delete(route);
          this.requeue(stall.held);
          this.pump();
        }, UNROUTABLE_RETRY_MS).unref();
        return;
      }
    } else if (err) {
      // A nack: send it again right away, ahead of everything not yet sent, on a fresh channel
      // when this one may hold a quorum queue's lost leader.
      this.requeue([item]);
      if (ch === this.ch && this.recycling !== ch && replaceChannelAfter(err, this.openedAt)) {
        this.recycling = ch;
        ch.close().catch(() => undefined);
        return;
      }
    } else {
      this.confirmed++;
      item.msg.onConfirmed();
    }
    if (ch === this.ch) this.pump();
    this.notifyIdle();
  }

  private onClose(ch: ConfirmChannel): void {
    if (this.ch !== ch) return;
    this.ch = undefined;
    const lost = [...this.inFlight.values()];
    this.inFlight.clear();
    this.requeue(lost);
    // A lost connection's reconnect opens a channel (start()'s setup); a replaced one is opened here.
    if (this.recycling === ch && !this.closed && this.opts.conn.isConnected) {
      this.open().catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'flood publish channel could not be reopened; the reconnect will'));
    }
  }

  private requeue(items: InFlight[]): void {
    if (items.length === 0) return;
    this.retried += items.filter((i) => i.attempt > 0).length;
    const merged = [...items, ...this.queue].sort((a, b) => a.msg.i - b.msg.i);
    this.queue.splice(0, this.queue.length, ...merged);
  }

  private takeToken(): boolean {
    if (this.opts.rate <= 0) return true;
    const now = Date.now();
    this.tokens = Math.min(this.opts.rate, this.tokens + ((now - this.lastRefill) / 1000) * this.opts.rate);
    this.lastRefill = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, Math.ceil((1 - this.tokens) * (1000 / this.opts.rate)));
    }
    return false;
  }

  private notifyIdle(): void {
    if (this.pending === 0) this.idleWaiters.splice(0).forEach((w) => w());
  }
}
