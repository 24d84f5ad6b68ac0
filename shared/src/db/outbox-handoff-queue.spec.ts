import type { OutboxRecord } from './outbox';
import { HandoffQueue } from './outbox-handoff-queue';

const rec = (id: string, key = `k${id}`): OutboxRecord => ({
  id,
  messageId: `m${id}`,
  type: 'StockReceived',
  exchange: 'x',
  routingKey: 'r',
  mandatory: true,
  properties: { headers: { 'x-partition-key': key } },
  payload: '{}',
  watchExchange: null,
  watchRoutingKey: null,
  keyHash: 0,
});
const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

describe('the outbox hand-off queue', () => {
  it('gives rows back in the order they were handed off, with their age', () => {
    const q = new HandoffQueue(10);
    q.offer([rec('1'), rec('2')]);
    q.offer([rec('3')]);
    const taken = q.take(2, new Set());
    expect(ids(taken)).toEqual(['1', '2']);
    expect(taken.every((r) => r.ageMs >= 0 && !('at' in r))).toBe(true);
    expect(ids(q.take(10, new Set()))).toEqual(['3']);
    expect(q.length).toBe(0);
  });

  it('past its bound refuses every later hand-off until it drained, then asks for one table read', () => {
    const q = new HandoffQueue(3);
    q.offer([rec('1'), rec('2')]);
    q.offer([rec('3'), rec('4')]);
    expect(q.overflowing).toBe(true);
    // Room again, but a later row must not overtake the refused ones (they are in the table).
    q.offer([rec('5')]);
    expect(q.length).toBe(2);
    expect(q.takeDrainedOverflow()).toBe(false);
    q.take(10, new Set());
    expect(q.takeDrainedOverflow()).toBe(true);
    expect(q.takeDrainedOverflow()).toBe(false);
    q.offer([rec('6')]);
    expect(ids(q.take(10, new Set()))).toEqual(['6']);
  });

  it('drops queued copies of rows a table read publishes, and refuses their late hand-off', () => {
    const q = new HandoffQueue(10);
    q.offer([rec('1'), rec('2')]);
    q.readFromTable(['1', '7'], Date.now());
    q.offer([rec('7'), rec('8')]);
    expect(ids(q.take(10, new Set()))).toEqual(['2', '8']);
  });

  it('forgets read ids after two generations', () => {
    const q = new HandoffQueue(10);
    const t0 = Date.now();
    q.readFromTable(['1'], t0);
    q.readFromTable(['2'], t0 + 11_000);
    q.offer([rec('1'), rec('2')]);
    expect(q.length).toBe(0);
    q.readFromTable(['3'], t0 + 22_000);
    q.offer([rec('1'), rec('2')]);
    expect(ids(q.take(10, new Set()))).toEqual(['1']);
  });

  it('leaves out the rows of held keys, taken or queued', () => {
    const q = new HandoffQueue(10);
    q.offer([rec('1', 'a'), rec('2', 'b'), rec('3', 'a'), rec('4', 'c')]);
    q.dropKeys(new Set(['c']));
    expect(ids(q.take(10, new Set(['a'])))).toEqual(['2']);
  });

  it('is empty and open again once cleared (a new leader reads the table)', () => {
    const q = new HandoffQueue(1);
    q.offer([rec('1'), rec('2')]);
    q.clear();
    expect(q.overflowing).toBe(false);
    q.offer([rec('3')]);
    expect(ids(q.take(10, new Set()))).toEqual(['3']);
  });
});
