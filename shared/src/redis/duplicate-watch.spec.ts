import { DuplicateWatch } from './duplicate-watch';

describe('DuplicateWatch', () => {
  let now = 1_000;
  const clock = () => now;

  it('asks only about redeliveries until a duplicate is caught', () => {
    const watch = new DuplicateWatch(500, clock);
    expect(watch.worthAsking(false)).toBe(false);
    expect(watch.worthAsking(true)).toBe(true);
  });

  it('a caught duplicate opens the window again, for its length from then; none caught changes nothing', () => {
    const watch = new DuplicateWatch(500, clock);
    now += 1_000;
    watch.saw(0);
    expect(watch.worthAsking(false)).toBe(false);
    watch.saw(3);
    now += 499;
    expect(watch.worthAsking(false)).toBe(true);
    now += 1;
    expect(watch.worthAsking(false)).toBe(false);
  });
});
