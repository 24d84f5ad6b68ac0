import { KeySequences } from './key-sequences';

describe('KeySequences', () => {
  it('numbers each key 1, 2, 3 and gives a message sent again the number it had', () => {
    const s = new KeySequences();
    expect(s.number('k', 'a', undefined, true).sequence).toBe(1);
    expect(s.number('k', 'b', undefined, true).sequence).toBe(2);
    expect(s.number('other', 'c', undefined, true).sequence).toBe(1);
    expect(s.number('k', 'a', undefined, true).sequence).toBe(1);
    expect(s.number('k', 'd', undefined, true).sequence).toBe(3);
  });

  it('uses up no number for a preview', () => {
    const s = new KeySequences();
    expect(s.number('k', 'a', undefined, false).sequence).toBe(1);
    expect(s.number('k', 'b', undefined, false).sequence).toBe(1);
    expect(s.number('k', 'b', undefined, true).sequence).toBe(1);
  });

  it("counts a caller's own session apart from its own", () => {
    const s = new KeySequences();
    s.number('k', 'a', undefined, true);
    s.number('k', 'b', undefined, true);
    expect(s.number('k', 'c', 'theirs', true)).toEqual({ sequence: 1, session: 'theirs' });
  });

  it('starts a new session instead of growing without bound', () => {
    const s = new KeySequences();
    const first = s.session;
    for (let i = 0; i < 100_000; i++) s.number(`order-${i}`, `m-${i}`, undefined, true);
    expect(s.session).toBe(first);
    expect(s.number('order-new', 'm-new', undefined, true)).toEqual({ sequence: 1, session: s.session });
    expect(s.session).not.toBe(first);
    expect(s.number('order-1', 'm-again', undefined, true).sequence).toBe(1);
  });
});
