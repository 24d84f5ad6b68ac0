import { EventEmitter } from 'node:events';
import type { ChannelModel } from 'amqplib';
import { BrokerUrlError, ConnectError } from '../errors';
import type { Logger } from '../logger';
import { AmqpConnection, type AmqpConnectionOptions, type BrokerConnect } from './connection';

const PASSWORD = 's3cret-pw';
const H1 = `amqp://app:${PASSWORD}@h1:5672`;
const H2 = `amqp://app:${PASSWORD}@h2:5673`;
const H3 = `amqp://other:${PASSWORD}@h3:5674/vh`;
const shown = (url: string) => url.replace(`:${PASSWORD}@`, ':***@');

/** A connection as far as AmqpConnection uses one; `lose()` is the socket going away. */
class FakeConnection extends EventEmitter {
  // coalesceFrameWrites finds the muxer shape it patches, so no "internals changed" warning.
  readonly connection = { muxer: { _readIncoming: () => undefined, out: { cork: () => undefined, uncork: () => undefined } } };
  closed = false;

  constructor(readonly host: string) {
    super();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.emit('close');
  }

  lose(): void {
    this.emit('close', new Error(`socket to ${this.host} closed`));
  }
}

/**
 * amqplib's connect for hosts that refuse (`down`) or accept: records every attempt's host, and
 * fails the way amqplib does, with an error message that (to prove the redaction) carries the URL.
 */
function fakeBroker(down: Set<string>) {
  const attempts: string[] = [];
  const opened: FakeConnection[] = [];
  const connect: BrokerConnect = async (url) => {
    const host = new URL(url).hostname;
    attempts.push(host);
    if (down.has(host)) throw new Error(`connect ECONNREFUSED ${host} (${url})`);
    const conn = new FakeConnection(host);
    opened.push(conn);
    return conn as unknown as ChannelModel;
  };
  return { attempts, opened, connect };
}

/** Every log line as text, to search for the password. */
function recordingLogger() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const at =
    (level: string) =>
    (fieldsOrMessage: object | string, message?: string): void => {
      if (typeof fieldsOrMessage === 'string') lines.push({ level, fields: {}, message: fieldsOrMessage });
      else lines.push({ level, fields: fieldsOrMessage as Record<string, unknown>, message: message ?? '' });
    };
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines, text: () => JSON.stringify(lines) };
}

describe('AmqpConnection over several broker addresses', () => {
  const connections: AmqpConnection[] = [];
  let logs: ReturnType<typeof recordingLogger>;

  beforeEach(() => {
    logs = recordingLogger();
  });

  afterEach(async () => {
    for (const c of connections.splice(0)) await c.close();
    expect(logs.text()).not.toContain(PASSWORD);
  });

  function connection(url: AmqpConnectionOptions['url'], connect: BrokerConnect, opts: Partial<AmqpConnectionOptions> = {}): AmqpConnection {
    const c = new AmqpConnection({ url, name: 'spec', heartbeatS: 5, retryBaseMs: 20, retryMaxMs: 80, log: logs.log, firstAddress: 0, connect, ...opts });
    connections.push(c);
    return c;
  }

  it('moves on to the next address at once when the first one refuses', async () => {
    const broker = fakeBroker(new Set(['h1']));
    const conn = connection(`${H1}, ${H2}`, broker.connect, { retryBaseMs: 2000, retryMaxMs: 4000 });
    const started = Date.now();
    await conn.start();
    expect(Date.now() - started).toBeLessThan(1000); // no backoff (1.5 s at least) between the two addresses
    expect(broker.attempts).toEqual(['h1', 'h2']);
    expect(conn.address).toBe(shown(H2));
    expect(conn.addresses).toEqual([shown(H1), shown(H2)]);
    const failed = logs.lines.find((l) => l.message === 'amqp connect failed; trying the next broker address');
    expect(failed?.fields).toMatchObject({ address: shown(H1), next: shown(H2) });
    expect(String(failed?.fields.err)).toContain('ECONNREFUSED h1');
    expect(logs.lines.find((l) => l.message === 'amqp connected')?.fields).toEqual({ generation: 1, address: shown(H2) });
  });

  it('reconnects to the next address after a lost connection, running the setups on each', async () => {
    const broker = fakeBroker(new Set());
    const conn = connection([H1, H2, H3], broker.connect);
    const setupOn: string[] = [];
    await conn.register(async (c, generation) => {
      setupOn.push(`${(c as unknown as FakeConnection).host}#${generation}`);
    });
    const connected: [number, string][] = [];
    conn.on('connect', (generation, address) => connected.push([generation, address]));
    await conn.start();
    for (let i = 0; i < 3; i++) {
      const next = new Promise((resolve) => conn.once('connect', resolve));
      broker.opened.at(-1)!.lose();
      expect(conn.isConnected).toBe(false);
      expect(conn.address).toBeUndefined();
      await next;
    }
    expect(broker.attempts).toEqual(['h1', 'h2', 'h3', 'h1']);
    expect(setupOn).toEqual(['h1#1', 'h2#2', 'h3#3', 'h1#4']);
    expect(connected).toEqual([[1, shown(H1)], [2, shown(H2)], [3, shown(H3)], [4, shown(H1)]]);
    expect(logs.lines.find((l) => l.message === 'amqp connection lost; reconnecting')?.fields).toMatchObject({ address: shown(H1), next: shown(H2) });
  });

  it('after a loss tries the lost node last, and backs off only after a full round failed', async () => {
    const down = new Set<string>();
    const broker = fakeBroker(down);
    const conn = connection([H1, H2, H3], broker.connect);
    await conn.start();
    down.add('h1').add('h2').add('h3');
    broker.opened[0]!.lose();
    await waitFor(() => broker.attempts.length >= 7);
    down.clear();
    await conn.waitConnected(2000);
    expect(broker.attempts.slice(0, 7)).toEqual(['h1', 'h2', 'h3', 'h1', 'h2', 'h3', 'h1']);
    const failures = logs.lines.filter((l) => l.message.startsWith('amqp connect failed'));
    // h2, h3 then h1 fail: a round; only its last failure waits.
    expect(failures.slice(0, 3).map((l) => [l.fields.address, l.fields.retryInMs === undefined])).toEqual([
      [shown(H2), true],
      [shown(H3), true],
      [shown(H1), false],
    ]);
  });

  it('keeps the backoff bounded by retryMaxMs, growing per failed round, and gives up naming every address', async () => {
    const broker = fakeBroker(new Set(['h1', 'h2']));
    const conn = connection([H1, H2], broker.connect, { connectTimeoutMs: 600 });
    const started = Date.now();
    const err = await conn.start().then(() => undefined, (e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as Error).message).toMatch(/^cannot connect to any of the 2 broker addresses: /);
    expect((err as Error).message).toContain(`${shown(H1)} (connect ECONNREFUSED h1`);
    expect((err as Error).message).toContain(`${shown(H2)} (connect ECONNREFUSED h2`);
    expect((err as Error).message).not.toContain(PASSWORD);
    const waits = logs.lines.filter((l) => l.fields.retryInMs !== undefined).map((l) => l.fields.retryInMs as number);
    expect(waits.length).toBeGreaterThanOrEqual(4);
    for (const w of waits) expect(w).toBeLessThanOrEqual(80);
    expect(waits[0]).toBeLessThanOrEqual(25); // 20 ms ± 25 %
    // Two attempts (one round) per wait, never more.
    expect(broker.attempts.length).toBeLessThanOrEqual(2 * (waits.length + 1));
  });

  it('with one address backs off after every failed attempt, as before', async () => {
    const broker = fakeBroker(new Set(['h1']));
    const conn = connection(H1, broker.connect, { connectTimeoutMs: 300 });
    const err = await conn.start().then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).toMatch(/^cannot connect to the broker at amqp:\/\/app:\*\*\*@h1:5672: connect ECONNREFUSED h1/);
    const failures = logs.lines.filter((l) => l.message.startsWith('amqp connect failed'));
    expect(failures.length).toBe(broker.attempts.length - 1);
    for (const f of failures) expect(f.fields.retryInMs).toEqual(expect.any(Number));
  });

  it('starts every connection of a process at the same address unless told otherwise', () => {
    const broker = fakeBroker(new Set());
    const a = connection([H1, H2, H3], broker.connect, { firstAddress: undefined });
    const b = connection([H1, H2, H3], broker.connect, { firstAddress: undefined });
    const first = (c: AmqpConnection) => (c as unknown as { nextAddress: number }).nextAddress;
    expect(first(a)).toBe(first(b));
    expect([0, 1, 2]).toContain(first(a));
    expect(() => connection([H1, H2], broker.connect, { firstAddress: 2 })).toThrow(RangeError);
  });

  it('refuses a bad address at construction, naming it without its password', () => {
    const broker = fakeBroker(new Set());
    expect(() => connection(`${H1},http://app:${PASSWORD}@h2`, broker.connect)).toThrow(BrokerUrlError);
    expect(() => connection(`${H1},http://app:${PASSWORD}@h2`, broker.connect)).toThrow('broker address 2 of 2 ("http://app:***@h2"): protocol must be one of amqp:, amqps:');
    expect(broker.attempts).toEqual([]);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
