import { EventEmitter } from 'node:events';
import type { Logger } from '../logger';
import type { AmqpConnection } from './connection';
import { ConfirmPublisher, RECYCLE_AFTER_NACK_MS } from './confirm-publisher';

type Answer = 'ack' | 'nack';

/** A confirm channel that answers each publish as its broker says (`answer`), and records closes. */
class FakeChannel extends EventEmitter {
  closed = false;
  published = 0;

  constructor(private readonly answer: () => Answer) {
    super();
  }

  publish(_e: string, _k: string, _c: Buffer, _o: unknown, cb: (err: unknown) => void): boolean {
    this.published++;
    const a = this.answer();
    setImmediate(() => cb(a === 'nack' ? new Error('message nacked') : null));
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.emit('close');
  }
}

/** The parts of AmqpConnection ConfirmPublisher uses; each channel answers as `answerOf(index)` says. */
function fakeConnection(answerOf: (channel: number) => Answer) {
  const channels: FakeChannel[] = [];
  const conn = {
    isConnected: true,
    generation: 1,
    async register(setup: (c: unknown, generation: number) => Promise<void>) {
      await setup(undefined, 1);
      return () => undefined;
    },
    async createConfirmChannel() {
      const index = channels.length;
      const ch = new FakeChannel(() => answerOf(index));
      channels.push(ch);
      return ch;
    },
  };
  return { conn: conn as unknown as AmqpConnection, channels };
}

const log: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const send = (p: ConfirmPublisher) => p.publish('ex', 'rk', Buffer.from('{}'), { messageId: 'm' });

describe('ConfirmPublisher after a nack', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick'] }));
  afterEach(() => jest.useRealTimers());

  it('replaces a channel that nacks once it is old enough, and the next publish goes through the new one', async () => {
    // The first channel nacks everything (a quorum queue leader it will never find again).
    const { conn, channels } = fakeConnection((i) => (i === 0 ? 'nack' : 'ack'));
    const p = new ConfirmPublisher(conn, log);
    await p.start();
    await expect(send(p)).rejects.toMatchObject({ kind: 'nack' });
    // Too young: a nack right after opening is answered on the same channel (the election may still run).
    expect(channels[0]!.closed).toBe(false);
    jest.advanceTimersByTime(RECYCLE_AFTER_NACK_MS);
    await expect(send(p)).rejects.toMatchObject({ kind: 'nack' });
    expect(channels[0]!.closed).toBe(true);
    jest.advanceTimersByTime(200);
    await Promise.resolve();
    await send(p);
    expect(channels).toHaveLength(2);
    expect(channels[1]!.published).toBe(1);
    await p.stop();
  });

  it('keeps a channel whose publishes are acked', async () => {
    const { conn, channels } = fakeConnection(() => 'ack');
    const p = new ConfirmPublisher(conn, log);
    await p.start();
    jest.advanceTimersByTime(RECYCLE_AFTER_NACK_MS * 2);
    for (let i = 0; i < 3; i++) await send(p);
    expect(channels).toHaveLength(1);
    expect(channels[0]!.closed).toBe(false);
    await p.stop();
  });
});
