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
        answers.push(() => (fail ? reject(new Error('connection lost')) : resolve(keys.map((k) => (known.has(k) ? '1' : null))))),
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
    const fake = fakeRedis(new Set(['dedup:inv:a', 'dedup:inv:d']));
    const filter = new DedupFilter(fake.redis, 'inv', 60);
    const first = filter.seen(['a', 'b']);
    expect(fake.calls).toEqual([['dedup:inv:a', 'dedup:inv:b']]);
    const second = filter.seen(['c']);
    const third = filter.seen(['d', 'e']);
    expect(fake.calls).toHaveLength(1);

    await fake.answerNext();
    expect(await first).toEqual(new Set(['a']));
    expect(fake.calls[1]).toEqual(['dedup:inv:c', 'dedup:inv:d', 'dedup:inv:e']);
    await fake.answerNext();
    expect(await second).toEqual(new Set());
    expect(await third).toEqual(new Set(['d']));

    // Idle again: the next lookup goes at once, on its own.
    const fourth = filter.seen(['a']);
    expect(fake.calls).toHaveLength(3);
    await fake.answerNext();
    expect(await fourth).toEqual(new Set(['a']));
  });

  it('answers a failed MGET as a miss for every lookup in it, and carries on', async () => {
    const fake = fakeRedis(new Set(['dedup:inv:a']));
    const filter = new DedupFilter(fake.redis, 'inv', 60);
    fake.failNext();
    const lost = filter.seen(['a']);
    await fake.answerNext();
    expect(await lost).toEqual(new Set());
    const next = filter.seen(['a']);
    await fake.answerNext();
    expect(await next).toEqual(new Set(['a']));
  });

  it('treats an MGET that throws at once as a miss, and the next lookup still goes', async () => {
    let calls = 0;
    const redis = {
      status: 'ready',
      mget: (...keys: string[]) => {
        if (calls++ === 0) throw new Error('bad arguments');
        return Promise.resolve(keys.map(() => '1'));
      },
    } as unknown as Redis;
    const filter = new DedupFilter(redis, 'inv', 60);
    expect(await filter.seen(['a'])).toEqual(new Set());
    expect(await filter.seen(['b'])).toEqual(new Set(['b']));
  });

  it('asks nothing without Redis', async () => {
    expect(await new DedupFilter(undefined, 'inv', 60).seen(['a'])).toEqual(new Set());
  });
});
