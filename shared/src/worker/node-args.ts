/**
 * V8 flags every worker process is started with: by `npm start`, the flood, the bench and the
 * tests that spawn workers (the Docker images set the same in NODE_OPTIONS).
 *
 * Why: with V8's defaults the young generation may grow to 3 × 16 MB semi-spaces and the old
 * generation grows lazily towards a limit of several GB, so a worker that had a burst sat at
 * 160–210 MB RSS afterwards. An 8 MB semi-space keeps the young generation small (our objects
 * die young: a delivery lives for one batch) and a 128 MB old-space ceiling makes V8 collect
 * before it grows. 4 MB saved another 10 MB of RSS but cost about 10 % more worker CPU per
 * message in scavenges (18 % of the worker's profile); docs/performance.md has the figures.
 * WORKER_NODE_ARGS overrides the list (space-separated; empty = V8's defaults).
 */
export const DEFAULT_WORKER_NODE_ARGS = '--max-semi-space-size=8 --max-old-space-size=128';

export function workerNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.WORKER_NODE_ARGS ?? DEFAULT_WORKER_NODE_ARGS;
  return raw.split(/\s+/).filter(Boolean);
}
