import { OutcomeWaiters } from './outcome-waiters';

interface Row {
  state: string;
}

/** A row read that the test answers by hand, so a notification can come while it is on its way. */
function rig(recheckMs = 60_000) {
  const reads: ((row: Row) => void)[] = [];
  const waiters = new OutcomeWaiters<Row>({
    read: () => new Promise<Row>((resolve) => reads.push(resolve)),
    settled: (row) => row?.state === 'applied',
    recheckMs,
  });
  return { waiters, reads };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('OutcomeWaiters', () => {
  afterEach(() => jest.useRealTimers());

  it('reads again at once when the notification came while the row was being read', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    const { waiters, reads } = rig();
    let got: Row | undefined;
    void waiters.waitFor('c-1', 30_000, () => false).then((r) => (got = r));
    await flush();
    expect(reads).toHaveLength(1);
    // The outcome is recorded and notified after the read saw the row, before its answer is back.
    waiters.wake('c-1');
    reads[0]!({ state: 'accepted' });
    await flush();
    // No timer has run: the second read comes from the notification, not from the re-read.
    expect(reads).toHaveLength(2);
    reads[1]!({ state: 'applied' });
    await flush();
    expect(got).toEqual({ state: 'applied' });
    expect(waiters.waiting).toBe(0);
  });

  it('sleeps until a notification, and re-reads on its own when none comes', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    const { waiters, reads } = rig(1_000);
    let got: Row | undefined;
    void waiters.waitFor('c-2', 30_000, () => false).then((r) => (got = r));
    await flush();
    reads[0]!({ state: 'accepted' });
    await flush();
    expect(reads).toHaveLength(1);
    waiters.wake('c-2');
    await flush();
    expect(reads).toHaveLength(2);
    reads[1]!({ state: 'accepted' });
    await flush();
    jest.advanceTimersByTime(1_000);
    await flush();
    expect(reads).toHaveLength(3);
    reads[2]!({ state: 'applied' });
    await flush();
    expect(got).toEqual({ state: 'applied' });
  });

  it('answers with the row as it is when the time runs out', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    const { waiters, reads } = rig(1_000);
    let got: Row | undefined;
    void waiters.waitFor('c-3', 1_500, () => false).then((r) => (got = r));
    await flush();
    reads[0]!({ state: 'accepted' });
    await flush();
    jest.advanceTimersByTime(1_000);
    await flush();
    reads[1]!({ state: 'accepted' });
    await flush();
    jest.advanceTimersByTime(500);
    await flush();
    reads[2]!({ state: 'accepted' });
    await flush();
    expect(got).toEqual({ state: 'accepted' });
    expect(waiters.waiting).toBe(0);
  });
});
