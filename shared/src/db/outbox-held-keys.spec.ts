import { HeldKeys } from './outbox-held-keys';

describe('held outbox keys', () => {
  it('holds the key of a refused row until it is released, and says when its retry is due', () => {
    const h = new HeldKeys();
    const now = Date.now();
    h.refuse('10', 'order-1', 1, 1_000);
    expect([...h.all()]).toEqual(['order-1']);
    expect(h.attemptsOf('10')).toBe(1);
    expect(h.attemptsOf('11')).toBe(0);
    expect(h.dueIds(now)).toEqual([]);
    expect(h.dueIds(now + 5_000)).toEqual(['10']);
    expect(h.retryDue(now)).toBeGreaterThan(900);
    expect(h.release('10')).toBe(true);
    expect(h.release('10')).toBe(false);
    expect(h.all().size).toBe(0);
    expect(h.retryDue()).toBe(Infinity);
  });

  it('holds parked keys beside refused ones; a new leader forgets refusals but not parked keys', () => {
    const h = new HeldKeys();
    h.setParked(new Set(['a']));
    h.park('b');
    h.refuse('1', 'c', 2, 0);
    expect([...h.all()].sort()).toEqual(['a', 'b', 'c']);
    h.forgetRefusals();
    h.unpark('a');
    expect([...h.all()]).toEqual(['b']);
    expect([...h.parkedKeys]).toEqual(['b']);
  });
});
