import { leftoversOf, NOTHING_LEFT } from '../support/leftovers';
import { runFlood } from '@stockflow/testkit/flood/flood';
import { defaultOptions, type FloodOptions } from '@stockflow/testkit/flood/options';

const SABOTAGE = { STOCKFLOW_ALLOW_SABOTAGE: 'i-know-this-breaks-things' };

/**
 * The checker against workers that break a guarantee on purpose (STOCKFLOW_SABOTAGE): small
 * floods without faults, where the only thing wrong is the sabotage. The prepared-database
 * tests (checker.int.ts) show each invariant failing alone; these show the checker catches
 * the real thing a missing guarantee does, end to end.
 */
describe('flood checker against sabotaged workers', () => {
  function small(overrides: Partial<FloodOptions>): FloodOptions {
    // A sabotaged run may never settle (no-locks strands orders): stop waiting soon after
    // nothing moves, the checker's verdict does not depend on it.
    return { ...defaultOptions(), seed: '7', commands: 600, faults: [], quiet: true, instances: { inventory: 1, orders: 1, payments: 1 }, quiesceTimeoutMs: 15_000, drainMaxMs: 90_000, ...overrides };
  }

  it('no-inbox: duplicates are applied again, and the checker says exactly-once (and nothing-lost: no claims at all)', async () => {
    const { report } = await runFlood(small({ duplicates: 1, workerEnv: { ...SABOTAGE, STOCKFLOW_SABOTAGE: 'no-inbox' } }));
    const failed = report.invariants.filter((i) => !i.ok).map((i) => i.name);
    expect(failed).toEqual(expect.arrayContaining(['exactly-once', 'nothing-lost']));
    const exactlyOnce = report.invariants.find((i) => i.name === 'exactly-once')!;
    expect(exactlyOnce.examples.join('\n')).toMatch(/applied more than once|no inbox claim/);
    expect(report.ok).toBe(false);
    // A failed run removes its state like a passing one (only its logs stay).
    expect(await leftoversOf(report.namespace)).toEqual(NOTHING_LEFT);
  }, 240_000);

  it('no-locks: concurrent holds and moves on one hot key lose updates, and the checker says stock-levels', async () => {
    const { report } = await runFlood(
      small({
        duplicates: 0,
        products: 1,
        warehouses: 2,
        hotKeys: 1,
        hotShare: 1,
        mix: { receive: 25, adjustDelta: 0, adjustSet: 0, transfer: 10, ship: 10, order: 15, cancel: 0, reserve: 40 },
        initialStock: 5000,
        workerEnv: { ...SABOTAGE, STOCKFLOW_SABOTAGE: 'no-locks' },
      }),
    );
    const levels = report.invariants.find((i) => i.name === 'stock-levels')!;
    expect(levels.ok).toBe(false);
    expect(levels.examples.join('\n')).toMatch(/≠ Σ ledger/);
    expect(report.ok).toBe(false);
    expect(await leftoversOf(report.namespace)).toEqual(NOTHING_LEFT);
  }, 240_000);
});
