import { connect, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { coalesceFrameWrites } from '@stockflow/shared';
import { LOCAL_DEFAULTS } from '../support/services';

/**
 * The parts of amqplib that packages/client/src/amqp/coalesce-writes.ts relies on beyond its
 * documented API. These fail when an upgrade moves them, before the connection silently falls
 * back to one socket write per frame.
 */
const URL = process.env.AMQP_URL ?? LOCAL_DEFAULTS.AMQP_URL;

describe('amqplib internals', () => {
  let conn: ChannelModel | undefined;
  afterAll(async () => {
    await conn?.close();
  });

  it("patches the connection's muxer, whose passes then write the frames of a confirm channel under one cork", async () => {
    conn = await connect(URL);
    expect(coalesceFrameWrites(conn)).toBe(true);

    const out = (conn as unknown as { connection: { muxer: { out: { cork(): void } } } }).connection.muxer.out;
    const cork = jest.spyOn(out, 'cork');
    const ch = await conn.createConfirmChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    cork.mockClear();
    const count = 50;
    for (let i = 0; i < count; i++) ch.publish('', queue, Buffer.from(String(i)));
    await ch.waitForConfirms();
    expect(cork).toHaveBeenCalled();

    const got: number[] = [];
    await new Promise<void>((resolve, reject) => {
      ch.consume(queue, (m: ConsumeMessage | null) => {
        if (!m) return reject(new Error('consumer cancelled'));
        got.push(Number(m.content.toString()));
        ch.ack(m);
        if (got.length === count) resolve();
      }).catch(reject);
    });
    expect(got).toEqual(Array.from({ length: count }, (_, i) => i));
    await ch.close();
  });

  it('changes nothing and says so when a connection has no muxer where amqplib keeps it', () => {
    expect(coalesceFrameWrites({} as ChannelModel)).toBe(false);
    expect(coalesceFrameWrites({ connection: { muxer: {} } } as unknown as ChannelModel)).toBe(false);
  });
});
