import { GroupCommit, MergedTransactionFailed } from './group-commit';

/** A run that records each transaction's parts and finishes when told to. */
function recorder() {
  const runs: { parts: string[]; finish(err?: Error): void }[] = [];
  const run = (parts: string[]) =>
    new Promise<string>((resolve, reject) => {
      runs.push({ parts, finish: (err) => (err ? reject(err) : resolve(parts.join('+'))) });
    });
  return { runs, run };
}

/** Two turns of the event loop: a commit lets the next transaction start one turn later. */
const tick = async () => {
  for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
};

describe('GroupCommit', () => {
  it('starts an idle transaction at once and merges what arrives while it runs', async () => {
    const { runs, run } = recorder();
    const g = new GroupCommit(run, { concurrency: 1, maxMessages: 100 });
    const a = g.submit('a', 10);
    await tick();
    expect(runs.map((r) => r.parts)).toEqual([['a']]);
    const b = g.submit('b', 10);
    const c = g.submit('c', 10);
    await tick();
    expect(runs).toHaveLength(1);
    expect(g.queued).toBe(2);
    runs[0]!.finish();
    await expect(a).resolves.toBe('a');
    await tick();
    expect(runs.map((r) => r.parts)).toEqual([['a'], ['b', 'c']]);
    runs[1]!.finish();
    await expect(Promise.all([b, c])).resolves.toEqual(['b+c', 'b+c']);
  });

  it('starts the next transaction a turn after a commit, so the batches submitted behind the committed ones join it', async () => {
    const { runs, run } = recorder();
    const g = new GroupCommit(run, { concurrency: 1, maxMessages: 100 });
    // A partition submits its next batch in the turn its last one committed, a few awaits
    // later (the ack, the next batch's start); another partition's batch waited meanwhile.
    const a = g.submit('a', 1).then(async () => {
      for (let i = 0; i < 5; i++) await Promise.resolve();
      return g.submit('a-next', 1);
    });
    await tick();
    const b = g.submit('b', 1);
    runs[0]!.finish();
    await tick();
    expect(runs.map((r) => r.parts)).toEqual([['a'], ['b', 'a-next']]);
    runs[1]!.finish();
    await expect(Promise.all([a, b])).resolves.toEqual(['b+a-next', 'b+a-next']);
  });

  it('caps a merged transaction at maxMessages but always takes one part, however big', async () => {
    const { runs, run } = recorder();
    const g = new GroupCommit(run, { concurrency: 1, maxMessages: 25 });
    void g.submit('first', 1);
    const parts = [g.submit('huge', 40), g.submit('x', 10), g.submit('y', 10), g.submit('z', 10)];
    runs[0]!.finish();
    for (let i = 1; i <= 3; i++) {
      await tick();
      runs[i]!.finish();
    }
    await Promise.all(parts);
    expect(runs.map((r) => r.parts)).toEqual([['first'], ['huge'], ['x', 'y'], ['z']]);
  });

  it('runs up to `concurrency` transactions at once', async () => {
    const { runs, run } = recorder();
    const g = new GroupCommit(run, { concurrency: 2, maxMessages: 100 });
    const all = ['a', 'b', 'c', 'd'].map((p) => g.submit(p, 1));
    await tick();
    expect(runs.map((r) => r.parts)).toEqual([['a'], ['b']]);
    runs[1]!.finish();
    await tick();
    expect(runs.map((r) => r.parts)).toEqual([['a'], ['b'], ['c', 'd']]);
    runs[0]!.finish();
    runs[2]!.finish();
    await expect(Promise.all(all)).resolves.toEqual(['a', 'b', 'c+d', 'c+d']);
  });

  it('fails a lone part with its own error and merged parts with MergedTransactionFailed', async () => {
    const { runs, run } = recorder();
    const g = new GroupCommit(run, { concurrency: 1, maxMessages: 100 });
    const alone = g.submit('alone', 1);
    const m1 = g.submit('m1', 1);
    const m2 = g.submit('m2', 1);
    const boom = new Error('deadlock detected');
    runs[0]!.finish(boom);
    await expect(alone).rejects.toBe(boom);
    await tick();
    runs[1]!.finish(boom);
    for (const m of [m1, m2]) {
      const err = await m.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MergedTransactionFailed);
      expect((err as MergedTransactionFailed).cause).toBe(boom);
      expect((err as MergedTransactionFailed).batches).toBe(2);
    }
    // The group keeps going after a failure.
    const after = g.submit('after', 1);
    await tick();
    runs[2]!.finish();
    await expect(after).resolves.toBe('after');
  });
  it('starts a further transaction beside a running one only after it has run overlapAfterMs', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    try {
      const { runs, run } = recorder();
      const g = new GroupCommit(run, { concurrency: 2, maxMessages: 100, overlapAfterMs: 25 });
      void g.submit('a', 1);
      void g.submit('b', 1);
      await tick();
      expect(runs.map((r) => r.parts)).toEqual([['a']]);
      jest.advanceTimersByTime(20);
      void g.submit('c', 1);
      await tick();
      expect(runs).toHaveLength(1);
      // 'a' is slow (a lock wait, say): the second slot opens and takes everything waiting.
      jest.advanceTimersByTime(5);
      await tick();
      expect(runs.map((r) => r.parts)).toEqual([['a'], ['b', 'c']]);
      // Both slots are busy now; a new part waits for one of them to finish.
      void g.submit('d', 1);
      jest.advanceTimersByTime(100);
      await tick();
      expect(runs).toHaveLength(2);
      runs[1]!.finish();
      await tick();
      await tick();
      // 'a' has run far longer than 25 ms: the freed slot is taken at once.
      expect(runs.map((r) => r.parts)).toEqual([['a'], ['b', 'c'], ['d']]);
      runs[0]!.finish();
      runs[2]!.finish();
    } finally {
      jest.useRealTimers();
    }
  });

  it('with nothing running starts at once, whatever overlapAfterMs is', async () => {
    const { runs, run } = recorder();
    const g = new GroupCommit(run, { concurrency: 2, maxMessages: 100, overlapAfterMs: 60_000 });
    const a = g.submit('a', 1);
    await tick();
    runs[0]!.finish();
    await a;
    const b = g.submit('b', 1);
    await tick();
    expect(runs.map((r) => r.parts)).toEqual([['a'], ['b']]);
    runs[1]!.finish();
    await b;
  });
});
