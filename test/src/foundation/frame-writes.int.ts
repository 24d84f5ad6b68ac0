import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { Socket } from 'node:net';
import { countSocketWrites, TestEnv } from '../support';

/**
 * The relay publishes a transaction's events in one go; they must reach the broker in a few
 * socket writes, not one syscall per frame, and still arrive whole and in order.
 */
describe('AMQP frame writes', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('sends a burst of publishes in a few socket writes, confirmed and in order', async () => {
    env = await TestEnv.create('frames');
    const conn = await env.connection('frames');
    let model: ChannelModel | undefined;
    await conn.register(async (m) => {
      model = m;
    });
    const socket = (model as unknown as { connection: { stream: Socket } }).connection.stream;
    const writes = countSocketWrites(socket);

    const queue = `${env.namespace}.frames`;
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    writes.write = writes.writev = 0;

    const count = 200;
    for (let i = 0; i < count; i++) ch.publish('', queue, Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(i) })), { persistent: true });
    await ch.waitForConfirms();
    // One muxer pass per event-loop turn, each one writev (or a write when it holds one
    // frame); 200 frames written one by one would be 200 writes.
    expect(writes.write + writes.writev).toBeLessThan(10);

    const got: number[] = [];
    await new Promise<void>((resolve, reject) => {
      ch.consume(queue, (m: ConsumeMessage | null) => {
        if (!m) return reject(new Error('consumer cancelled'));
        const body = JSON.parse(m.content.toString()) as { i: number; pad: string };
        expect(body.pad).toHaveLength(body.i);
        got.push(body.i);
        ch.ack(m);
        if (got.length === count) resolve();
      }).catch(reject);
    });
    expect(got).toEqual(Array.from({ length: count }, (_, i) => i));
    await ch.deleteQueue(queue);
    await ch.close();
  });

  it('connects with TCP_NODELAY, so a small publish or ack is not held back for the broker\'s delayed ACK', async () => {
    env ??= await TestEnv.create('frames');
    const noDelay = jest.spyOn(Socket.prototype, 'setNoDelay');
    try {
      const conn = await env.connection('nodelay');
      let model: ChannelModel | undefined;
      await conn.register(async (m) => {
        model = m;
      });
      const socket = (model as unknown as { connection: { stream: Socket } }).connection.stream;
      const calls = noDelay.mock.calls.filter((_, i) => noDelay.mock.contexts[i] === socket);
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.at(-1)).toEqual([true]);
    } finally {
      noDelay.mockRestore();
    }
  });
});
