/**
 * V8 flags every worker process is started with: by `npm start`, the flood, the bench and the
 * tests that spawn workers (the Docker images set the same in NODE_OPTIONS).
 *
 * Why: with V8's defaults the young generation may grow to 3 × 16 MB semi-spaces and the old
 * generation grows lazily towards a limit of several GB, so a worker keeps the RSS of its last
 * burst. An 8 MB semi-space keeps the young generation small (our objects die young: a delivery
 * lives for one batch) and a 128 MB old-space ceiling makes V8 collect before it grows. A
 * smaller semi-space saves a little more memory and costs CPU in scavenges; docs/performance.md
 * has the current figures.
 * WORKER_NODE_ARGS overrides the list (space-separated; empty = V8's defaults).
 */
export const DEFAULT_WORKER_NODE_ARGS = '--max-semi-space-size=8 --max-old-space-size=128';

export function workerNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.WORKER_NODE_ARGS ?? DEFAULT_WORKER_NODE_ARGS;
  return raw.split(/\s+/).filter(Boolean);
}
