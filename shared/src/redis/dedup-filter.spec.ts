import type { Redis } from 'ioredis';
import { DedupFilter } from './dedup-filter';

/** A Redis stand-in whose MGET answers only when the test says so. */
function fakeRedis(known: Set<string>) {
  const calls: string[][] = [];
  const answers: (() => void)[] = [];
  let failNext = false;
  const redis = {
    status: 'ready',
    mget: (...keys: string[]) => {
      calls.push(keys);
      const fail = failNext;
      failNext = false;
      return new Promise<(string | null)[]>((resolve, reject) =>
        answers.push(() => (fail ? reject(new Error('connection lost')) : resolve(keys.map((k) => (known.has(k) ? 'fp' : null))))),
      );
    },
  };
  return {
    redis: redis as unknown as Redis,
    calls,
    answerNext: async () => {
      answers.shift()!();
      // Let the filter hand out the answer and send what waited meanwhile.
      for (let i = 0; i < 5; i++) await Promise.resolve();
    },
    failNext: () => (failNext = true),
  };
}

describe('DedupFilter.seen', () => {
  it('asks at once when nothing is on its way, and sends what came meanwhile as one MGET', async () => {
    const fake = fakeRedis(new Set(['dedup:s1:inv:a', 'dedup:s1:inv:d']));
    const filter = new DedupFilter(fake.redis, 'inv', 60, 's1');
    const first = filter.seen(['a', 'b']);
    expect(fake.calls).toEqual([['dedup:s1:inv:a', 'dedup:s1:inv:b']]);
    const second = filter.seen(['c']);
    const third = filter.seen(['d', 'e']);
    expect(fake.calls).toHaveLength(1);

    await fake.answerNext();
    expect(await first).toEqual(new Map([['a', 'fp']]));
    expect(fake.calls[1]).toEqual(['dedup:s1:inv:c', 'dedup:s1:inv:d', 'dedup:s1:inv:e']);
    await fake.answerNext();
    expect(await second).toEqual(new Map());
    expect(await third).toEqual(new Map([['d', 'fp']]));

    // Idle again: the next lookup goes at once, on its own.
    const fourth = filter.seen(['a']);
    expect(fake.calls).toHaveLength(3);
    await fake.answerNext();
    expect(await fourth).toEqual(new Map([['a', 'fp']]));
  });

  it('answers a failed MGET as a miss for every lookup in it, and carries on', async () => {
    const fake = fakeRedis(new Set(['dedup:s1:inv:a']));
    const filter = new DedupFilter(fake.redis, 'inv', 60, 's1');
    fake.failNext();
    const lost = filter.seen(['a']);
    await fake.answerNext();
    expect(await lost).toEqual(new Map());
    const next = filter.seen(['a']);
    await fake.answerNext();
    expect(await next).toEqual(new Map([['a', 'fp']]));
  });

  it('treats an MGET that throws at once as a miss, and the next lookup still goes', async () => {
    let calls = 0;
    const redis = {
      status: 'ready',
      mget: (...keys: string[]) => {
        if (calls++ === 0) throw new Error('bad arguments');
        return Promise.resolve(keys.map(() => 'fp'));
      },
    } as unknown as Redis;
    const filter = new DedupFilter(redis, 'inv', 60, 's1');
    expect(await filter.seen(['a'])).toEqual(new Map());
    expect(await filter.seen(['b'])).toEqual(new Map([['b', 'fp']]));
  });

  it('asks nothing without Redis', async () => {
    expect(await new DedupFilter(undefined, 'inv', 60, 's1').seen(['a'])).toEqual(new Map());
  });
});

/** A Redis stand-in that records commands (EVAL without its script) and knows the keys in `known`. */
function recordingRedis(known: Set<string>) {
  const sent: unknown[] = [];
  const answer = (keys: string[]) => keys.map((k) => (known.has(k) ? 'fp' : null));
  const redis = {
    status: 'ready',
    mget: (...keys: string[]) => {
      sent.push(['mget', ...keys]);
      return Promise.resolve(answer(keys));
    },
    eval: (_script: string, ...args: unknown[]) => {
      sent.push(['eval', ...args]);
      return Promise.resolve(null);
    },
    pipeline: () => {
      const cmds: unknown[][] = [];
      const p = {
        eval: (_script: string, ...args: unknown[]) => (cmds.push(['eval', ...args]), p),
        mget: (...keys: string[]) => (cmds.push(['mget', ...keys]), p),
        exec: () => {
          sent.push({ pipeline: cmds });
          return Promise.resolve(cmds.map((c) => [null, c[0] === 'mget' ? answer(c.slice(1) as string[]) : null]));
        },
      };
      return p;
    },
  };
  return { redis: redis as unknown as Redis, sent };
}

/** A filter on a recording Redis that knows no key. */
function recordingFilter() {
  const fake = recordingRedis(new Set());
  return { fake, filter: new DedupFilter(fake.redis, 'inv', 60, 's1') };
}

describe('DedupFilter.remember', () => {
  afterEach(() => jest.useRealTimers());

  it('sends committed ids with the next lookup, in one pipeline, EVAL first', async () => {
    const fake = recordingRedis(new Set(['dedup:s1:inv:a']));
    const filter = new DedupFilter(fake.redis, 'inv', 60, 's1');
    filter.remember([{ id: 'x', fingerprint: 'fx' }, { id: 'y', fingerprint: 'fy' }]);
    filter.remember([{ id: 'z', fingerprint: 'fz' }]);
    expect(fake.sent).toEqual([]);
    expect(await filter.seen(['a', 'b'])).toEqual(new Map([['a', 'fp']]));
    expect(fake.sent).toEqual([{ pipeline: [['eval', 3, 'dedup:s1:inv:x', 'dedup:s1:inv:y', 'dedup:s1:inv:z', 60, 'fx', 'fy', 'fz'], ['mget', 'dedup:s1:inv:a', 'dedup:s1:inv:b']] }]);
    // Nothing left to remember: the next lookup is a plain MGET.
    await filter.seen(['c']);
    expect(fake.sent[1]).toEqual(['mget', 'dedup:s1:inv:c']);
  });

  it('sends them on their own when no lookup comes soon', async () => {
    jest.useFakeTimers();
    const { fake, filter } = recordingFilter();
    filter.remember([{ id: 'x', fingerprint: 'fx' }]);
    jest.advanceTimersByTime(5);
    filter.remember([{ id: 'y', fingerprint: 'fy' }]);
    expect(fake.sent).toEqual([]);
    jest.advanceTimersByTime(20);
    expect(fake.sent).toEqual([['eval', 2, 'dedup:s1:inv:x', 'dedup:s1:inv:y', 60, 'fx', 'fy']]);
    jest.advanceTimersByTime(1000);
    expect(fake.sent).toHaveLength(1);
  });

  it('flush sends what waits at once (on stop), and the timer then sends nothing', async () => {
    jest.useFakeTimers();
    const { fake, filter } = recordingFilter();
    filter.remember([{ id: 'x', fingerprint: 'fx' }]);
    await filter.flush();
    expect(fake.sent).toEqual([['eval', 1, 'dedup:s1:inv:x', 60, 'fx']]);
    jest.advanceTimersByTime(1000);
    await filter.flush();
    expect(fake.sent).toHaveLength(1);
  });

  it('forgets nothing and sends nothing twice when a lookup takes the ids before their timer', async () => {
    jest.useFakeTimers();
    const { fake, filter } = recordingFilter();
    filter.remember([{ id: 'x', fingerprint: 'fx' }]);
    await filter.seen(['a']);
    jest.advanceTimersByTime(1000);
    expect(fake.sent).toEqual([{ pipeline: [['eval', 1, 'dedup:s1:inv:x', 60, 'fx'], ['mget', 'dedup:s1:inv:a']] }]);
  });
});
