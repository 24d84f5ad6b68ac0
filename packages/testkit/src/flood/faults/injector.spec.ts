import { Rng } from '../rng';
import type { FaultContext } from './actions';
import { FaultInjector } from './injector';

/** Two connection drops due at once, the first held at the broker's API until `release`. */
function injector(): { inj: FaultInjector; release: () => void; asked: () => number } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let asked = 0;
  const broker = {
    kind: 'management',
    countsLagMs: 0,
    async namespaceConnections() {
      if (asked++ === 0) await gate;
      return [];
    },
  };
  const ctx = { namespace: 'ns', fleet: { processes: () => [] }, broker, rng: Rng.derive('1', 'faults'), log: () => undefined } as unknown as FaultContext;
  const inj = new FaultInjector(ctx, [
    { kind: 'conn', progress: 0.1 },
    { kind: 'conn', progress: 0.2 },
  ]);
  return { inj, release, asked: () => asked };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}

describe('FaultInjector at the end of publishing', () => {
  it('fires the faults that came due behind a slow one before it stops', async () => {
    const { inj, release, asked } = injector();
    inj.start(() => 1);
    await until(() => asked() === 1);
    const stopped = inj.stop({ finishDue: true });
    release();
    await stopped;
    expect(inj.records.map((r) => r.kind)).toEqual(['conn', 'conn']);
  });

  it('drops them when the run is interrupted: only the fault being injected finishes', async () => {
    const { inj, release, asked } = injector();
    inj.start(() => 1);
    await until(() => asked() === 1);
    const stopped = inj.stop();
    release();
    await stopped;
    expect(inj.records.map((r) => r.kind)).toEqual(['conn']);
  });
});
