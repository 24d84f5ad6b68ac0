import { EventEmitter } from 'node:events';
import * as amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from '../logger';
import { backoffDelay } from '../util/backoff';
import { closeWithin, sleep } from '../util/time';
import { ConnectError, TopologyMismatchError } from '../errors';
import { coalesceFrameWrites } from './coalesce-writes';

/**
 * One AMQP connection with reconnect, in the style of amqp-connection-manager: components
 * register a setup(connection) that runs after every (re)connect and builds their channels.
 * Every connection has a generation number; a delivery remembers the generation it came
 * from so that its ack is dropped, never sent on a newer channel (where its delivery tag
 * would mean another message or close the channel with 406 PRECONDITION_FAILED).
 */
export interface AmqpConnectionOptions {
  url: string;
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
}

/**
 * A URL with its password replaced by ***, for messages and logs. Done on the text, not through
 * URL parsing: a password with a '/' in it is not a URL's password to the parser, but it is one.
 */
export function redactUrl(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@]*@/i, '$1:***@');
}

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
  connect: [generation: number];
  disconnect: [error: Error | undefined];
  fatal: [error: Error];
}

export class AmqpConnection extends EventEmitter<AmqpConnectionEvents> {
  private conn: ChannelModel | undefined;
  private gen = 0;
  private closing = false;
  private setups = new Set<Setup>();
  private connecting: Promise<void> | undefined;
  private attempt = 0;
  private closed = new AbortController();

  constructor(private readonly opts: AmqpConnectionOptions) {
    super();
    if (opts.connectTimeoutMs !== undefined && !(opts.connectTimeoutMs > 0)) throw new RangeError(`connectTimeoutMs must be a positive number of ms, got ${opts.connectTimeoutMs}`);
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
    if (!this.conn) throw new ConnectError(`closed before a connection to ${redactUrl(this.opts.url)} was made`);
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
    await closeWithin(conn);
  }

  private current(): ChannelModel {
    if (!this.conn) throw new Error('amqp not connected');
    return this.conn;
  }

  private ensureConnected(timeoutMs?: number): Promise<void> {
    this.connecting ??= this.connectLoop(timeoutMs === undefined ? Infinity : Date.now() + timeoutMs).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectLoop(deadline: number): Promise<void> {
    while (!this.closing) {
      try {
        const conn = await amqp.connect(withHeartbeat(this.opts.url, this.opts.heartbeatS), {
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
        conn.on('error', (err: Error) => this.opts.log.warn({ err: err.message }, 'amqp connection error'));
        conn.on('close', (err?: Error) => this.onClose(conn, err));
        conn.on('blocked', (reason: string) => this.opts.log.warn({ reason }, 'amqp connection blocked by broker'));
        conn.on('unblocked', () => this.opts.log.info('amqp connection unblocked'));
        this.conn = conn;
        for (const setup of [...this.setups]) await setup(conn, generation);
        this.attempt = 0;
        this.opts.log.info({ generation }, 'amqp connected');
        this.emit('connect', generation);
        return;
      } catch (err) {
        if (err instanceof TopologyMismatchError) {
          this.onSetupFailure(err);
          throw err;
        }
        const stale = this.conn;
        this.conn = undefined;
        await closeWithin(stale);
        const delay = backoffDelay(this.attempt++, this.opts.retryBaseMs, this.opts.retryMaxMs);
        // A URL that does not parse never will; anything else may pass (broker starting, network).
        if (isBadUrl(err) || Date.now() + delay > deadline) {
          this.closing = true;
          throw new ConnectError(`cannot connect to the broker at ${redactUrl(this.opts.url)}: ${redactUrl((err as Error).message)}`);
        }
        this.opts.log.warn({ err: redactUrl((err as Error).message), retryInMs: delay }, 'amqp connect failed');
        await sleep(delay, this.closed.signal);
      }
    }
  }

  private onClose(conn: ChannelModel, err?: Error): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.emit('disconnect', err);
    if (this.closing) return;
    this.opts.log.warn({ err: err?.message }, 'amqp connection lost; reconnecting');
    this.ensureConnected().catch((e: unknown) => this.opts.log.error({ err: (e as Error).message }, 'amqp reconnect gave up'));
  }

  private onSetupFailure(err: unknown): void {
    if (err instanceof TopologyMismatchError) {
      this.closing = true;
      this.emit('fatal', err);
    }
  }
}
