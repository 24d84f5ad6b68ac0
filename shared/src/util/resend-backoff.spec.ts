import { ResendBackoff } from './resend-backoff';

describe('ResendBackoff', () => {
  it('lets an id go again only after a backoff that doubles up to the cap, and forgets ids left alone', () => {
    const b = new ResendBackoff({ firstMs: 100, maxMs: 300 });
    expect(b.due('a', 0)).toBe(true);
    b.record('a', 0);
    expect(b.due('a', 99)).toBe(false);
    expect(b.due('a', 100)).toBe(true);
    b.record('a', 100); // next wait 200
    expect(b.due('a', 299)).toBe(false);
    expect(b.due('a', 300)).toBe(true);
    b.record('a', 300); // 400 capped at 300
    expect(b.due('a', 599)).toBe(false);
    expect(b.due('a', 600)).toBe(true);
    b.prune(1000); // 1000 > 300 + 2 × 300: forgotten, back to the first step
    b.record('a', 1000);
    expect(b.due('a', 1099)).toBe(false);
    expect(b.due('a', 1100)).toBe(true);
  });
});
