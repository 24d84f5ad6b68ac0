import { Teardown, TeardownStarted } from '@stockflow/testkit/support/teardown';

describe('Teardown', () => {
  it('undoes in reverse order, once, and goes on after a step that fails', async () => {
    const done: string[] = [];
    const t = new Teardown();
    t.defer('a', async () => done.push('a'));
    t.defer('b', async () => {
      throw new Error('b broke');
    });
    await t.create('c', async () => 'made c', async (c) => done.push(c));
    await Promise.all([t.close(), t.close()]);
    await t.close();
    expect(done).toEqual(['made c', 'a']);
    expect(t.failures).toEqual([{ what: 'b', error: 'b broke' }]);
  });

  it('waits for a creation under way and undoes what it made', async () => {
    const done: string[] = [];
    const t = new Teardown();
    let finish!: (v: string) => void;
    const creating = t.create('slow', () => new Promise<string>((r) => (finish = r)), async (v) => done.push(`undo ${v}`));
    const closed = t.close();
    finish('db');
    await expect(creating).resolves.toBe('db');
    await closed;
    expect(done).toEqual(['undo db']);
  });

  it('refuses anything new once it has begun', async () => {
    const t = new Teardown();
    await t.close();
    expect(() => t.defer('late', async () => undefined)).toThrow(TeardownStarted);
    await expect(t.create('late', async () => 1, async () => undefined)).rejects.toThrow(TeardownStarted);
  });

  it('does not let a step that hangs hold up the rest', async () => {
    const done: string[] = [];
    const t = new Teardown(50);
    t.defer('last', async () => done.push('last'));
    t.defer('hangs', () => new Promise(() => undefined));
    await t.close();
    expect(done).toEqual(['last']);
    expect(t.failures).toEqual([{ what: 'hangs', error: 'no result after 50 ms' }]);
  });

  it('undoes at once what a creation made after close stopped waiting for it', async () => {
    const done: string[] = [];
    const t = new Teardown(20);
    let finish!: (v: string) => void;
    const creating = t.create('very slow', () => new Promise<string>((r) => (finish = r)), async (v) => done.push(`undo ${v}`));
    await t.close();
    finish('db');
    await expect(creating).rejects.toThrow(TeardownStarted);
    expect(done).toEqual(['undo db']);
  });
});
