import { PermanentMessageError, TransientError } from '../../errors';
import { FakeBatch, fakeRuntime } from '../../testing/pipeline-fixtures';
import { MergedTransactionFailed } from '../group-commit';
import type { Runtime, WorkItem } from '../types';
import { ApplyStage } from './apply-stage';
import type { Committed, TxPart } from './transaction-step';

/** A transaction step that fails as `fail` says (per call, by the ids in the transaction) and otherwise commits every id fresh. */
function fakeTx(fail: (ids: string[], call: number) => Error | undefined) {
  const calls: { ids: string[]; attempt: number; parts: number }[] = [];
  return {
    calls,
    run(parts: TxPart[], attempt: number): Promise<Committed> {
      const ids = parts.flatMap((p) => p.items.map((i: WorkItem) => i.envelope.messageId));
      calls.push({ ids, attempt, parts: parts.length });
      const err = fail(ids, calls.length);
      if (err) return Promise.reject(err);
      for (const p of parts) p.afterCommit.push(() => undefined);
      return Promise.resolve({ fresh: new Set(ids), reused: new Set(), began: 1, committed: 2 });
    },
  };
}

const compensations: string[] = [];
const prepare = {
  compensate: (_run: unknown, e: { item: WorkItem }) => {
    compensations.push(e.item.envelope.messageId);
    return Promise.resolve({ 'x-compensation': `refunded ${e.item.envelope.messageId}` });
  },
};

async function count(rt: Runtime, metric: 'transientRetries' | 'givenBack'): Promise<number> {
  return (await rt.metrics[metric].get()).values.reduce((s, v) => s + v.value, 0);
}

describe('the apply stage', () => {
  beforeEach(() => compensations.splice(0));

  it('retries a transient failure in place, the same batch, until it commits', async () => {
    const rt = fakeRuntime();
    const tx = fakeTx((_ids, call) => (call <= 2 ? new TransientError('deadlock') : undefined));
    const b = new FakeBatch(['a', 'b'], rt);
    const applied = await new ApplyStage(rt, tx, prepare).run(b.run, b.entries);
    expect(applied).not.toBe('abandoned');
    expect(tx.calls.map((c) => [c.ids, c.attempt])).toEqual([
      [['a', 'b'], 0],
      [['a', 'b'], 1],
      [['a', 'b'], 2],
    ]);
    expect(applied !== 'abandoned' && [...applied.fresh]).toEqual(['a', 'b']);
    expect(applied !== 'abandoned' && applied.afterCommit).toHaveLength(1);
    expect(await count(rt, 'transientRetries')).toBe(2);
    expect(b.dead).toEqual([]);
  });

  it('gives the partition back to the broker once transient failures pass the transaction budget', async () => {
    const rt = fakeRuntime();
    const tx = fakeTx(() => new TransientError('connection refused'));
    const b = new FakeBatch(['a'], rt);
    expect(await new ApplyStage(rt, tx, prepare).run(b.run, b.entries)).toBe('abandoned');
    expect(tx.calls).toHaveLength(20);
    expect(b.givenBack).toBe(1);
    expect(b.dead).toEqual([]);
  });

  it('isolates a poison message: one transaction per message, only the culprit compensated and dead-lettered', async () => {
    const rt = fakeRuntime();
    const tx = fakeTx((ids) => (ids.includes('bad') ? new PermanentMessageError('invalid_provider_answer', 'no such warehouse') : undefined));
    const b = new FakeBatch(['a', 'bad', 'c'], rt);
    const applied = await new ApplyStage(rt, tx, prepare).run(b.run, b.entries);
    expect(tx.calls.map((c) => c.ids)).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
    expect(applied !== 'abandoned' && [...applied.fresh]).toEqual(['a', 'c']);
    expect(compensations).toEqual(['bad']);
    expect(b.dead).toEqual([{ messageId: 'bad', reason: 'invalid_provider_answer', error: 'no such warehouse', headers: { 'x-compensation': 'refunded bad' } }]);
    expect(b.run.isSettled(b.entries[1]!)).toBe(true);
  });

  it('takes an unknown error for the message only after its budget (3 attempts)', async () => {
    const rt = fakeRuntime();
    const tx = fakeTx(() => new Error('a bug'));
    const b = new FakeBatch(['x'], rt);
    await new ApplyStage(rt, tx, prepare).run(b.run, b.entries);
    expect(tx.calls).toHaveLength(3);
    expect(b.dead.map((d) => [d.messageId, d.reason])).toEqual([['x', 'handler_error']]);
  });

  it('runs a batch whose merged transaction failed again alone, without charging it an attempt', async () => {
    const rt = fakeRuntime({ txConcurrency: 1 });
    const tx = fakeTx((_ids, call) => (call === 1 ? new MergedTransactionFailed(new Error('other partition'), 2) : undefined));
    const b = new FakeBatch(['a'], rt);
    const applied = await new ApplyStage(rt, tx, prepare).run(b.run, b.entries);
    expect(applied).not.toBe('abandoned');
    expect(tx.calls.map((c) => c.attempt)).toEqual([0, 0]);
    expect(await count(rt, 'transientRetries')).toBe(0);
  });

  it('merges batches of partitions that wait while a transaction runs', async () => {
    const rt = fakeRuntime({ txConcurrency: 1 });
    const tx = fakeTx(() => undefined);
    const stage = new ApplyStage(rt, tx, prepare);
    const [b1, b2, b3] = [new FakeBatch(['a'], rt, { partition: 1 }), new FakeBatch(['b'], rt, { partition: 2 }), new FakeBatch(['c'], rt, { partition: 3 })];
    await Promise.all([stage.run(b1.run, b1.entries), stage.run(b2.run, b2.entries), stage.run(b3.run, b3.entries)]);
    expect(tx.calls.map((c) => c.parts)).toEqual([1, 2]);
  });

  it('stops, without a transaction, when the batch went stale or the consumer is forced down', async () => {
    const rt = fakeRuntime();
    const tx = fakeTx(() => undefined);
    const stale = new FakeBatch(['a'], rt);
    stale.stale.add(stale.entries[0]!.d);
    expect(await new ApplyStage(rt, tx, prepare).run(stale.run, stale.entries)).toBe('abandoned');
    const forced = new FakeBatch(['b'], rt);
    forced.abort.abort();
    expect(await new ApplyStage(rt, tx, prepare).run(forced.run, forced.entries)).toBe('abandoned');
    expect(tx.calls).toEqual([]);
  });
});
