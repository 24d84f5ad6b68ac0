/**
 * The floods running in this process. A jest test that times out is abandoned, not stopped:
 * its flood would go on against the next tests and, once the jest worker exits, leave its
 * database, queues and Redis keys behind with nobody to remove them. The suite's afterEach
 * (support/abandoned-floods.ts) cancels whatever is still here. No imports: every test file
 * loads this.
 */
interface RunningFlood {
  cancel(): void;
  /** Resolves once the run's teardown is done. */
  settled: Promise<void>;
}

const running = new Set<RunningFlood>();

/** Called by runFlood; the returned function forgets the run again. */
export function trackFlood(run: RunningFlood): () => void {
  running.add(run);
  return () => running.delete(run);
}

/** Cancels every flood still running here and waits until each has torn down; how many there were. */
export async function cancelRunningFloods(): Promise<number> {
  const runs = [...running];
  for (const run of runs) run.cancel();
  await Promise.all(runs.map((run) => run.settled));
  return runs.length;
}
