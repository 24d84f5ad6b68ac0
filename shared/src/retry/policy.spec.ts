import { PermanentMessageError, PublishError, TransientError } from '../errors';
import { BUDGETS, classify, RetryPolicy } from './policy';

describe('retry policy', () => {
  const policy = new RetryPolicy(50, 5000);

  it('classifies by what failed: the message, something outside it, or nobody knows', () => {
    expect(classify(new PermanentMessageError('invalid_schema', 'x'))).toBe('permanent');
    expect(classify(new PublishError('x', 'unencodable'))).toBe('permanent');
    for (const kind of ['nack', 'unroutable', 'channel_closed', 'timeout'] as const) expect(classify(new PublishError('x', kind))).toBe('transient');
    expect(classify(new TransientError('x'))).toBe('transient');
    expect(classify(Object.assign(new Error('deadlock detected'), { code: '40P01' }))).toBe('transient');
    expect(classify(Object.assign(new Error('check violation'), { code: '23514' }))).toBe('permanent');
    expect(classify(new TypeError('undefined is not a function'))).toBe('unknown');
  });

  it('retries each kind up to its budget, with growing backoff, and never a permanent failure', () => {
    const budget = BUDGETS.prepare;
    const transient = Array.from({ length: 10 }, (_, i) => policy.next(new TransientError('down'), i, budget));
    expect(transient.filter((d) => d.retry)).toHaveLength(budget.transient - 1);
    expect(transient[budget.transient - 1]).toEqual({ retry: false, kind: 'transient' });
    const delays = transient.filter((d) => d.retry).map((d) => (d as { delayMs: number }).delayMs);
    expect(delays[delays.length - 1]!).toBeGreaterThan(delays[0]!);
    expect(policy.next(new Error('?'), budget.unknown - 2, budget).retry).toBe(true);
    expect(policy.next(new Error('?'), budget.unknown - 1, budget)).toEqual({ retry: false, kind: 'unknown' });
    expect(policy.next(new PermanentMessageError('bad_signature', 'x'), 0, budget)).toEqual({ retry: false, kind: 'permanent' });
  });

  it('keeps every delay within the cap, jitter included', () => {
    for (let a = 0; a < 40; a++) expect(policy.backoff(a)).toBeLessThanOrEqual(5000);
  });
});
