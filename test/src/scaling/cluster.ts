import { liveMembers, relayLeaseHolders, type WorkerKind } from '@stockflow/shared';
import type { TestEnv } from '../support';
import { ChildWorker, type ServiceName } from '../orders/child-worker';

/** Fast leases for tests: a lost instance's partitions move within ~2 s. */
export const FAST_LEASES = { OWNERSHIP: 'leases', LEASE_TTL_MS: 2000, HEARTBEAT_MS: 250 } as const;

/**
 * Worker instances as real processes (so a test can SIGKILL, SIGSTOP and SIGTERM them), named
 * by INSTANCE_ID. stopAll() resumes paused ones first: a stopped process ignores SIGTERM.
 */
export class ChildCluster {
  readonly children = new Map<string, ChildWorker>();

  constructor(
    private readonly env: TestEnv,
    private readonly service: ServiceName,
    private readonly base: Record<string, string | number> = {},
  ) {}

  start(id: string, extra: Record<string, string | number> = {}): ChildWorker {
    const child = ChildWorker.start(this.service, this.env.env({ HTTP_PORT: 0, ...FAST_LEASES, ...this.base, INSTANCE_ID: id, ...extra }), this.env.namespace);
    this.children.set(id, child);
    return child;
  }

  get(id: string): ChildWorker {
    const c = this.children.get(id);
    if (!c) throw new Error(`no child ${id}`);
    return c;
  }

  signal(id: string, signal: NodeJS.Signals): void {
    process.kill(this.get(id).pid!, signal);
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled(
      [...this.children.values()].map(async (c) => {
        try {
          if (c.pid) process.kill(c.pid, 'SIGCONT');
        } catch {
          // already gone
        }
        await c.stop(15_000);
      }),
    );
  }
}

/** Partitions each live instance reports as consuming (its lease record in Redis). */
export async function ownership(env: TestEnv, kind: WorkerKind): Promise<Map<string, number[]>> {
  const members = await liveMembers(env.redis, kind);
  return new Map(members.map((m) => [m.instance, m.info?.owned ?? []]));
}

/** Exactly `members` own all `partitions` partitions, each once, counts within ±1. */
export function expectEvenSpread(owned: Map<string, number[]>, partitions: number, members: string[]): void {
  expect([...owned.keys()].sort()).toEqual([...members].sort());
  expect([...owned.values()].flat().sort((a, b) => a - b)).toEqual(Array.from({ length: partitions }, (_, i) => i));
  const counts = [...owned.values()].map((o) => o.length);
  expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
}

/** Instance → the outbox shards its relay holds now (relay_lease). */
export async function relayShards(env: TestEnv, schema: string): Promise<Map<string, number[]>> {
  const byInstance = new Map<string, number[]>();
  for (const [holder, shards] of await relayLeaseHolders((sql, params) => env.query(sql, params), schema)) byInstance.set(holder.split(':')[0]!, shards);
  return byInstance;
}
