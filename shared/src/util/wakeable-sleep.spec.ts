import { WakeableSleep } from './wakeable-sleep';

describe('a wakeable sleep', () => {
  it('ends after its time, or at once on wake()', async () => {
    const s = new WakeableSleep();
    const t0 = Date.now();
    await s.sleep(20);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(15);
    const long = s.sleep(60_000);
    s.wake();
    await long;
  });

  it('sleeps until woken without a time, and a wake() with nobody asleep is not kept', async () => {
    const s = new WakeableSleep();
    s.wake();
    let woke = false;
    const forever = s.sleep().then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(woke).toBe(false);
    s.wake();
    await forever;
    expect(woke).toBe(true);
  });
});
