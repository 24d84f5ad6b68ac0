import { childMessageId, MESSAGE_ID_PATTERN } from './envelope';

describe('childMessageId', () => {
  it('gives the ids every earlier version gave (outbox rows and traces written before stay matched)', () => {
    // Computed with the former createHash('sha1').update(…).digest('hex') form.
    expect(childMessageId('rs-1', 0)).toBe('b9b3d1a1-0b55-54b9-8f04-728530db13f5');
    expect(childMessageId('rs-1', 1)).toBe('a59cba70-c877-5c3b-9a50-70a7a192bd5d');
  });

  it('is a name-based UUID that differs per parent and per position', () => {
    const ids = ['a', 'b'].flatMap((p) => [0, 1, 2].map((n) => childMessageId(p, n)));
    expect(new Set(ids).size).toBe(6);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(id).toMatch(MESSAGE_ID_PATTERN);
    }
  });
});
