import { EventEmitter } from 'node:events';
import * as amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from '../logger';
import { backoffDelay } from '../util/backoff';
import { closeWithin, sleep } from '../util/time';
import { ConnectError, TopologyMismatchError } from '../errors';
import { parseBrokerUrls, redactUrl, redactUrlsIn } from './broker-urls';
import { coalesceFrameWrites } from './coalesce-writes';

/**
 * One AMQP connection with reconnect, in the style of amqp-connection-manager: components
 * register a setup(connection) that runs after every (re)connect and builds their channels.
 * Every connection has a generation number; a delivery remembers the generation it came
 * from so that its ack is dropped, never sent on a newer channel (where its delivery tag
 * would mean another message or close the channel with 406 PRECONDITION_FAILED).
 *
 * Several broker addresses (the nodes of one cluster) are tried round robin, one address per
 * attempt: a lost connection reconnects to the next address first, since the node it was on
 * is probably the one that went away. Nothing above this class knows which node it is on: a
 * reconnect is a new generation whichever node it reaches, the setups declare their channels
 * and consumers again, and the deliveries left unacked on the lost connection go back to their
 * queues, so switching nodes loses no delivery and breaks no per-key order.
 */
export interface AmqpConnectionOptions {
  /**
   * The broker: one URL, or the nodes of a cluster as an array or as one string of URLs
   * separated by commas (AMQP_URL). Checked by parseBrokerUrls: the constructor throws a
   * BrokerUrlError for a bad one.
   */
  url: string | readonly string[];
  /** Shown in the management UI and used by `rabbitmqctl close_connection`. */
  name: string;
  heartbeatS: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /**
   * start() gives up with a ConnectError when the first connection is not made within this
   * time (a CLI, a publisher that must fail fast). Without it start() retries until close().
   * Reconnects after a lost connection always go on until close().
   */
  connectTimeoutMs?: number;
  log: Logger;
  /**
   * Index of the address the first attempt goes to. Default: an offset drawn once per process,
   * so instances given the same list spread over the nodes (while all connections of one
   * process start on the same node). Tests pin it for a deterministic order.
   */
  firstAddress?: number;
  /** Opens one connection; amqplib's connect. A seam for unit tests. */
  connect?: BrokerConnect;
}

/** What amqplib's connect() is to AmqpConnection: a URL and socket options in, a connection out. */
export type BrokerConnect = (url: string, socketOptions: Record<string, unknown>) => Promise<ChannelModel>;

/** See AmqpConnectionOptions.firstAddress. */
const PROCESS_ADDRESS_OFFSET = Math.floor(Math.random() * 1_000_000);

function withHeartbeat(url: string, heartbeatS: number): string {
  const u = new URL(url);
  u.searchParams.set('heartbeat', String(heartbeatS));
  return u.toString();
}

/** How long one TCP + AMQP handshake may take; less when start()'s deadline is nearer. */
const SOCKET_TIMEOUT_MS = 10_000;
const MIN_SOCKET_TIMEOUT_MS = 500;

/** The URL itself is wrong (Node's URL parser, or amqplib's protocol check): no retry can help. */
function isBadUrl(err: unknown): boolean {
  return (err as { code?: unknown }).code === 'ERR_INVALID_URL' || /^Expected amqps?: or amqps?: as the protocol/.test((err as Error).message);
}

export type Setup = (conn: ChannelModel, generation: number) => Promise<void>;

export interface AmqpConnectionEvents {
  /** `address` is the URL connected to, without its password. */
  connect: [generation: number, address: string];
  disconnect: [error: Error | undefined];
  fatal: [error: Error];
}

export class AmqpConnection extends EventEmitter<AmqpConnectionEvents> {
  private conn: ChannelModel | undefined;
  private gen = 0;
  private closing = false;
  private setups = new Set<Setup>();
  private connecting: Promise<void> | undefined;
  /** Full rounds over every address that failed since the last connection: the backoff's exponent. */
  private failedRounds = 0;
  private closed = new AbortController();
  private readonly urls: string[];
  /** The addresses without their passwords, for logs, errors and status. */
  private readonly shown: string[];
  /** Index of the address the next attempt goes to. */
  private nextAddress: number;
  /** Index of the address of `conn`. */
  private connectedAddress: number | undefined;
  private readonly connectFn: BrokerConnect;

  constructor(private readonly opts: AmqpConnectionOptions) {
    super();
    if (opts.connectTimeoutMs !== undefined && !(opts.connectTimeoutMs > 0)) throw new RangeError(`connectTimeoutMs must be a positive number of ms, got ${opts.connectTimeoutMs}`);
    this.urls = parseBrokerUrls(opts.url);
    this.shown = this.urls.map(redactUrl);
    const first = opts.firstAddress ?? PROCESS_ADDRESS_OFFSET % this.urls.length;
    if (!Number.isInteger(first) || first < 0 || first >= this.urls.length) throw new RangeError(`firstAddress must be an index into the ${this.urls.length} broker addresses, got ${first}`);
    this.nextAddress = first;
    this.connectFn = opts.connect ?? ((url, socketOptions) => amqp.connect(url, socketOptions));
  }

  /** The broker address of the current connection, without its password; undefined while disconnected. */
  get address(): string | undefined {
    return this.connectedAddress === undefined ? undefined : this.shown[this.connectedAddress];
  }

  /** Every broker address, in the order they are tried, without their passwords. */
  get addresses(): readonly string[] {
    return this.shown;
  }

  get generation(): number {
    return this.gen;
  }

  get isConnected(): boolean {
    return this.conn !== undefined;
  }

  /** Connects (retrying with backoff) and runs every registered setup. */
  async start(): Promise<void> {
    this.closing = false;
    if (this.closed.signal.aborted) this.closed = new AbortController();
    await this.ensureConnected(this.opts.connectTimeoutMs);
    if (!this.conn) throw new ConnectError(`closed before a connection to ${this.shown.join(',')} was made`);
  }

  /** Registers a setup; runs it at once when connected. Returns the unregister function. */
  async register(setup: Setup): Promise<() => void> {
    this.setups.add(setup);
    if (this.conn) {
      try {
        await setup(this.conn, this.gen);
      } catch (err) {
        this.onSetupFailure(err);
        throw err;
      }
    }
    return () => this.setups.delete(setup);
  }

  async createChannel(): Promise<Channel> {
    const ch = await this.current().createChannel();
    ch.on('error', (err: Error) => this.opts.log.debug({ err: err.message }, 'amqp channel error'));
    return ch;
  }

  async createConfirmChannel(): Promise<ConfirmChannel> {
    const ch = await this.current().createConfirmChannel();
    ch.on('error', (err: Error) => this.opts.log.debug({ err: err.message }, 'amqp channel error'));
    return ch;
  }

  /** Resolves once connected, or rejects after timeoutMs. */
  async waitConnected(timeoutMs: number): Promise<void> {
    if (this.conn) return;
    const deadline = Date.now() + timeoutMs;
    while (!this.conn) {
      if (this.closing) throw new Error('amqp connection closed');
      if (Date.now() > deadline) throw new Error(`no amqp connection after ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** Test and chaos hook: drop the socket the way a network cut would. */
  destroySocket(): void {
    const stream = (this.conn as unknown as { connection?: { stream?: { destroy(err?: Error): void } } } | undefined)?.connection?.stream;
    stream?.destroy(new Error('connection cut (test/chaos)'));
  }

  async close(): Promise<void> {
    this.closing = true;
    this.closed.abort();
    const conn = this.conn;
    this.conn = undefined;
    this.connectedAddress = undefined;
    await closeWithin(conn);
  }

  private current(): ChannelModel {
    if (!this.conn) throw new Error('amqp not connected');
    return this.conn;
  }

  private ensureConnected(timeoutMs?: number): Promise<void> {
    if (this.connecting) return this.connecting;
    if (this.conn) return Promise.resolve();
    const loop = this.connectLoop(timeoutMs === undefined ? Infinity : Date.now() + timeoutMs);
    this.connecting = loop;
    const done = () => {
      if (this.connecting === loop) this.connecting = undefined;
    };
    loop.then(done, done);
    return loop;
  }

  /**
   * One attempt per address, round robin. The backoff comes after a full round in which every
   * address failed, not after each attempt: when one node is down the next attempt goes to
   * another one at once (failing over costs one refused or timed-out connect, not a backoff),
   * while a cluster that is down as a whole still sees at most one attempt per address per
   * backoff interval, which grows up to retryMaxMs. With one address a round is one attempt,
   * so every failure backs off.
   */
  private async connectLoop(deadline: number): Promise<void> {
    const lastErrors = new Map<number, string>();
    let failedInRound = 0;
    while (!this.closing) {
      const index = this.nextAddress;
      // Advanced before the attempt: after this connection is lost, the next attempt goes to
      // the next node first.
      this.nextAddress = (index + 1) % this.urls.length;
      try {
        const conn = await this.connectFn(withHeartbeat(this.urls[index]!, this.opts.heartbeatS), {
          clientProperties: { connection_name: this.opts.name },
          timeout: Math.max(MIN_SOCKET_TIMEOUT_MS, Math.min(SOCKET_TIMEOUT_MS, deadline - Date.now())),
          // amqplib leaves Nagle's algorithm on: a small write (a publish, an ack) may then wait
          // for the broker to acknowledge the previous one, which its delayed ACK holds back.
          // Plain amqplib publishing and consuming on one connection saw a 20-25 ms median
          // (50 ms p99) on every confirm and delivery of a quorum queue on loopback, at 100
          // msg/s as at 1 500; with TCP_NODELAY 1-2 ms (6-9 ms p99). Frames of one muxer pass
          // still leave in one write (coalesce-writes.ts).
          noDelay: true,
        });
        if (this.closing) {
          // close() was called while we were connecting: do not resurrect the connection.
          await closeWithin(conn);
          return;
        }
        if (!coalesceFrameWrites(conn)) this.opts.log.warn('amqplib internals changed: frames are written one syscall each');
        const generation = ++this.gen;
        conn.on('error', (err: Error) => this.opts.log.warn({ err: redactUrlsIn(err.message), address: this.shown[index] }, 'amqp connection error'));
        conn.on('close', (err?: Error) => this.onClose(conn, err));
        conn.on('blocked', (reason: string) => this.opts.log.warn({ reason, address: this.shown[index] }, 'amqp connection blocked by broker'));
        conn.on('unblocked', () => this.opts.log.info({ address: this.shown[index] }, 'amqp connection unblocked'));
        this.conn = conn;
        this.connectedAddress = index;
        for (const setup of [...this.setups]) await setup(conn, generation);
        this.failedRounds = 0;
        // Done before anyone hears of the connection: a loss from here on needs a loop of its
        // own, which one still marked as running (until its promise settles) would prevent.
        this.connecting = undefined;
        this.opts.log.info({ generation, address: this.shown[index] }, 'amqp connected');
        this.emit('connect', generation, this.shown[index]!);
        return;
      } catch (err) {
        if (err instanceof TopologyMismatchError) {
          this.onSetupFailure(err);
          throw err;
        }
        const stale = this.conn;
        this.conn = undefined;
        this.connectedAddress = undefined;
        await closeWithin(stale);
        const message = redactUrlsIn((err as Error).message);
        lastErrors.set(index, message);
        const roundFailed = ++failedInRound >= this.urls.length;
        const delay = roundFailed ? backoffDelay(this.failedRounds++, this.opts.retryBaseMs, this.opts.retryMaxMs) : 0;
        // A URL that does not parse never will; anything else may pass (broker starting, network).
        if (isBadUrl(err) || Date.now() + delay > deadline) {
          this.closing = true;
          throw new ConnectError(this.unreachable(lastErrors));
        }
        if (roundFailed) {
          failedInRound = 0;
          this.opts.log.warn({ address: this.shown[index], err: message, retryInMs: delay }, 'amqp connect failed');
          await sleep(delay, this.closed.signal);
        } else {
          this.opts.log.warn({ address: this.shown[index], err: message, next: this.shown[this.nextAddress] }, 'amqp connect failed; trying the next broker address');
        }
      }
    }
  }

  /** Why start() gave up: with several addresses, the last error of each one tried. */
  private unreachable(lastErrors: Map<number, string>): string {
    if (this.urls.length === 1) return `cannot connect to the broker at ${this.shown[0]}: ${lastErrors.get(0) ?? 'no attempt made'}`;
    const each = [...lastErrors].map(([i, message]) => `${this.shown[i]} (${message})`);
    return `cannot connect to any of the ${this.urls.length} broker addresses: ${each.join('; ')}`;
  }

  private onClose(conn: ChannelModel, err?: Error): void {
    if (this.conn !== conn) return;
    const lost = this.address;
    this.conn = undefined;
    this.connectedAddress = undefined;
    this.emit('disconnect', err);
    if (this.closing) return;
    this.opts.log.warn({ err: err === undefined ? undefined : redactUrlsIn(err.message), address: lost, next: this.shown[this.nextAddress] }, 'amqp connection lost; reconnecting');
    this.ensureConnected().catch((e: unknown) => this.opts.log.error({ err: (e as Error).message }, 'amqp reconnect gave up'));
  }

  private onSetupFailure(err: unknown): void {
    if (err instanceof TopologyMismatchError) {
      this.closing = true;
      this.emit('fatal', err);
    }
  }
}
