import { Semaphore } from './semaphore';

describe('Semaphore', () => {
  it('lets `size` holders in and serves waiters in arrival order', async () => {
    const s = new Semaphore(2);
    const order: string[] = [];
    const r1 = await s.acquire();
    const r2 = await s.acquire();
    const w3 = s.acquire().then((r) => (order.push('3'), r));
    const w4 = s.acquire().then((r) => (order.push('4'), r));
    await Promise.resolve();
    expect(order).toEqual([]);
    expect(s.waiting).toBe(2);
    r1();
    r1(); // a second release of the same slot frees nothing
    const r3 = await w3;
    expect(order).toEqual(['3']);
    expect(s.waiting).toBe(1);
    r2();
    const r4 = await w4;
    expect(order).toEqual(['3', '4']);
    r3();
    r4();
    const again = await Promise.all([s.acquire(), s.acquire()]);
    expect(s.waiting).toBe(0);
    again.forEach((r) => r());
  });

  it('size 0 never waits', async () => {
    const s = new Semaphore(0);
    await Promise.all(Array.from({ length: 100 }, () => s.acquire()));
    expect(s.waiting).toBe(0);
  });
});
