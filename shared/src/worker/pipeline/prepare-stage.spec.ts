import { PermanentMessageError, TransientError } from '../../errors';
import { DEAD_LETTER_HEADERS } from '../dead-letter';
import { FakeBatch, fakeRuntime } from '../../testing/pipeline-fixtures';
import type { Handler, ServiceDefinition, UnitOfWork } from '../types';
import { PrepareStage } from './prepare-stage';

type H = Handler<UnitOfWork>;

function service(handler: Partial<H>): ServiceDefinition<UnitOfWork> {
  return { name: 'spec', handlers: { StockReceived: { type: 'StockReceived', handle: () => Promise.resolve(), ...handler } } } as unknown as ServiceDefinition<UnitOfWork>;
}

describe('the prepare stage', () => {
  it('prepares, in order, only the messages the inbox does not hold yet', async () => {
    const rt = fakeRuntime({}, { query: () => Promise.resolve([{ message_id: 'done' }]) });
    const seen: string[] = [];
    const stage = new PrepareStage(service({ prepare: (_p, ctx) => (seen.push(ctx.envelope.messageId), Promise.resolve(`charge-${ctx.envelope.messageId}`)) }), rt);
    const b = new FakeBatch(['a', 'done', 'c'], rt);
    expect(await stage.run(b.run, b.entries)).toBe(true);
    expect(seen).toEqual(['a', 'c']);
    expect(b.entries.map((e) => e.item.prepared)).toEqual(['charge-a', undefined, 'charge-c']);
  });

  it('dead-letters a message whose prepare() fails for good and goes on with the rest', async () => {
    const rt = fakeRuntime();
    const stage = new PrepareStage(
      service({ prepare: (_p, ctx) => (ctx.envelope.messageId === 'bad' ? Promise.reject(new PermanentMessageError('invalid_provider_answer', 'card declined for good')) : Promise.resolve('ok')) }),
      rt,
    );
    const b = new FakeBatch(['bad', 'b'], rt);
    expect(await stage.run(b.run, b.entries)).toBe(true);
    expect(b.dead.map((d) => [d.messageId, d.reason])).toEqual([['bad', 'invalid_provider_answer']]);
    expect(b.entries[1]!.item.prepared).toBe('ok');
  });

  it("past the transient budget hands the message to its handler's exhausted(), else dead-letters it as dependency_unavailable", async () => {
    const rt = fakeRuntime();
    let calls = 0;
    const down = () => (calls++, Promise.reject(new TransientError('provider down')));
    const withExhausted = new PrepareStage(service({ prepare: down, exhausted: () => 'pending' }), rt);
    const b1 = new FakeBatch(['a'], rt);
    expect(await withExhausted.run(b1.run, b1.entries)).toBe(true);
    expect(calls).toBe(5);
    expect(b1.entries[0]!.item.prepared).toBe('pending');
    const without = new PrepareStage(service({ prepare: down }), rt);
    const b2 = new FakeBatch(['b'], rt);
    expect(await without.run(b2.run, b2.entries)).toBe(true);
    expect(b2.dead.map((d) => [d.messageId, d.reason])).toEqual([['b', 'dependency_unavailable']]);
  });

  it('gives the partition back when the inbox look-up itself keeps failing', async () => {
    const rt = fakeRuntime({}, { query: () => Promise.reject(new TransientError('postgres down')) });
    const stage = new PrepareStage(service({ prepare: () => Promise.resolve('x') }), rt);
    const b = new FakeBatch(['a'], rt);
    expect(await stage.run(b.run, b.entries)).toBe(false);
    expect(b.givenBack).toBe(1);
  });

  it('compensates what prepare() did, and marks a compensation that keeps failing for a person', async () => {
    const rt = fakeRuntime();
    const ok = new PrepareStage(service({ compensate: () => Promise.resolve('refunded 12.00 EUR') }), rt);
    const b = new FakeBatch(['a'], rt);
    b.entries[0]!.item.prepared = 'charge';
    expect(await ok.compensate(b.run, b.entries[0]!)).toEqual({ [DEAD_LETTER_HEADERS.compensation]: 'refunded 12.00 EUR' });
    let tries = 0;
    const failing = new PrepareStage(service({ compensate: () => (tries++, Promise.reject(new TransientError('provider down'))) }), rt);
    expect(await failing.compensate(b.run, b.entries[0]!)).toEqual({ [DEAD_LETTER_HEADERS.compensation]: 'failed: provider down' });
    expect(tries).toBe(5);
    b.entries[0]!.item.prepared = undefined;
    expect(await failing.compensate(b.run, b.entries[0]!)).toEqual({});
  });
});
