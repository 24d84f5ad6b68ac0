/**
 * V8 flags every worker process is started with: by `npm start`, the flood, the bench, the
 * tests that spawn workers and the Docker images (their command line reads WORKER_NODE_ARGS:
 * `--heap-growing-percent` is not allowed in NODE_OPTIONS).
 *
 * Why: with V8's defaults the young generation may grow to 3 × 16 MB semi-spaces and the old
 * generation grows lazily towards a limit of several GB, so a worker keeps the RSS of its last
 * burst. An 8 MB semi-space keeps the young generation small (our objects die young: a delivery
 * lives for one batch) and a 128 MB old-space ceiling makes V8 collect before it grows. Under
 * that ceiling V8 chose to let the old generation grow only a little past what survived each
 * full collection: a worker at full load ran one every few hundred milliseconds, each marking
 * the whole old generation. Letting it grow by 100 % runs a third as many, under the same
 * ceiling. docs/performance.md has the figures.
 * WORKER_NODE_ARGS overrides the list (space-separated; empty = V8's defaults).
 */
export const DEFAULT_WORKER_NODE_ARGS = '--max-semi-space-size=8 --max-old-space-size=128 --heap-growing-percent=100';

export function workerNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.WORKER_NODE_ARGS ?? DEFAULT_WORKER_NODE_ARGS;
  return raw.split(/\s+/).filter(Boolean);
}
