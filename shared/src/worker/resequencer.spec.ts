import type { ConsumeMessage } from 'amqplib';
import pino from 'pino';
import type { Delivery } from '../amqp/partition-consumer';
import { HEADER } from '@stockflow/client/internal';
import { streamId } from '../db/inbox';
import { Resequencer } from './resequencer';

let tag = 0;
function delivery(key: string | undefined, seq: number | undefined, id = `${key}-${seq}-${++tag}`, session?: string): Delivery {
  const headers: Record<string, unknown> = {};
  if (key !== undefined) headers[HEADER.partitionKey] = key;
  if (seq !== undefined) headers[HEADER.sequence] = seq;
  if (session !== undefined) headers[HEADER.sequenceSession] = session;
  const msg = { content: Buffer.alloc(0), fields: { deliveryTag: ++tag, redelivered: true }, properties: { messageId: id, headers } } as unknown as ConsumeMessage;
  return { msg, generation: 1, receivedAt: 0 };
}

const label = (ds: Delivery[]) => ds.map((d) => `${d.msg.properties.headers?.[HEADER.partitionKey] ?? '-'}:${d.msg.properties.headers?.[HEADER.sequence] ?? '-'}`);

/** `applied`: key (session '') or key@session → highest applied sequence. */
function setup(applied: Record<string, number> = {}, gapWaitMs = 1000) {
  let now = 0;
  const lookups: string[][] = [];
  const name = (s: { key: string; session: string }) => (s.session ? `${s.key}@${s.session}` : s.key);
  let gaps = 0;
  const r = new Resequencer({
    partition: 0,
    gapWaitMs,
    log: pino({ level: 'silent' }),
    now: () => now,
    onGap: () => gaps++,
    lookup: (streams) => {
      lookups.push(streams.map(name));
      return Promise.resolve(new Map(streams.filter((s) => applied[name(s)] !== undefined).map((s) => [streamId(s), applied[name(s)]!])));
    },
  });
  return { r, lookups, gaps: () => gaps, advance: (ms: number) => (now += ms) };
}

describe('Resequencer', () => {
  it('orders each publisher session of a key on its own: a restarted publisher\'s 1, 2 are not taken for the old numbering', async () => {
    // The old session applied up to 57; the new one starts again at 1, and its 2 arrives first.
    const { r, lookups } = setup({ 'a@old': 57 });
    const two = delivery('a', 2, 'new-2', 'new');
    let sel = await r.select([two], { max: 50, full: false });
    expect(sel.take).toEqual([]);
    expect(lookups).toEqual([['a@new']]);
    const one = delivery('a', 1, 'new-1', 'new');
    sel = await r.select([two, one, delivery('a', 58, 'old-58', 'old')], { max: 50, full: false });
    expect(sel.take.map((d) => String(d.msg.properties.messageId))).toEqual(['new-1', 'new-2', 'old-58']);
    expect(lookups).toEqual([['a@new'], ['a@old']]);
  });

  it('sorts each key by sequence within its own slots and leaves other keys in place', async () => {
    const { r } = setup({ a: 3 });
    const buf = [delivery('a', 5), delivery('b', 1), delivery('a', 4), delivery(undefined, undefined), delivery('b', 2)];
    const { take } = await r.select(buf, { max: 50, full: false });
    expect(label(take)).toEqual(['a:4', 'b:1', 'a:5', '-:-', 'b:2']);
  });

  it('holds a key behind a missing predecessor while other keys flow, and releases it when it comes', async () => {
    const { r, lookups } = setup({ a: 3 });
    const a5 = delivery('a', 5);
    const a6 = delivery('a', 6);
    const c1 = delivery('c', 1);
    let sel = await r.select([a5, c1, a6], { max: 50, full: false });
    expect(label(sel.take)).toEqual(['c:1']);
    expect(sel.retryInMs).toBe(1000);
    expect(lookups).toEqual([['a']]);
    r.consumed(sel.take);

    const a4 = delivery('a', 4);
    sel = await r.select([a5, a6, a4], { max: 50, full: false });
    expect(label(sel.take)).toEqual(['a:4', 'a:5', 'a:6']);
    r.consumed(sel.take);
    // Known now: no second look-up, and 7 follows 6.
    sel = await r.select([delivery('a', 7)], { max: 50, full: false });
    expect(label(sel.take)).toEqual(['a:7']);
    expect(lookups).toHaveLength(1);
  });

  it('gives a gap up after gapWaitMs, or at once when the buffer is full', async () => {
    const { r, gaps, advance } = setup({ a: 1 }, 1000);
    const a3 = delivery('a', 3);
    expect((await r.select([a3], { max: 50, full: false })).take).toEqual([]);
    advance(999);
    expect((await r.select([a3], { max: 50, full: false })).retryInMs).toBe(1);
    advance(1);
    expect((await r.select([a3], { max: 50, full: false })).take).toEqual([a3]);
    expect(gaps()).toBe(1);

    const b9 = delivery('b', 9);
    expect((await r.select([b9], { max: 50, full: true })).take).toEqual([b9]);
    expect(gaps()).toBe(2);
  });

  it('never holds duplicates, sequence 1 or restarted sequences', async () => {
    const { r, lookups } = setup({ a: 7 });
    const buf = [delivery('a', 7), delivery('a', 2), delivery('n', 1), delivery('a', 8)];
    expect(label((await r.select(buf, { max: 50, full: false })).take)).toEqual(['a:2', 'a:7', 'n:1', 'a:8']);
    expect(lookups).toEqual([['a']]);
  });

  it('takes at most max deliveries and forgets what it learnt on reset', async () => {
    const { r, lookups } = setup({});
    const first = [delivery('a', 1), delivery('a', 2), delivery('a', 3)];
    const sel = await r.select(first, { max: 2, full: false });
    expect(label(sel.take)).toEqual(['a:1', 'a:2']);
    r.consumed(sel.take);
    expect(lookups).toEqual([['a']]);
    await r.select([delivery('a', 3)], { max: 2, full: false });
    expect(lookups).toHaveLength(1);
    r.reset();
    await r.select([delivery('a', 3)], { max: 2, full: false });
    expect(lookups).toEqual([['a'], ['a']]);
  });
});
