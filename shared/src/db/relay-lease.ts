import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';

/** relay_lease.name of a shard: the outbox rows whose key falls in partition `shard`. */
export function shardLeaseName(shard: number): string {
  return `outbox:${shard}`;
}

/**
 * Which instance's relay publishes which part of a schema's outbox. The outbox is cut into
 * shards by the same hash as the partition queues (a row's shard is its key's partition), and
 * each shard has a lease row in `<schema>.relay_lease` that its holder renews (every
 * heartbeat) and that anybody may take once it has expired. A relay asks for the shards of the
 * partitions its worker owns, so relaying spreads over the instances with the partitions and
 * a handover moves it with them; a key's rows are all in one shard, so they are published by
 * one relay at a time, in order.
 *
 * Postgres decides who holds a shard (its clock sets and compares expires_at); the holder
 * decides locally how long it may still act, from its own monotonic clock: its shards are
 * taken as valid until `ttlMs` after the renewal was *sent*, which is never later than
 * Postgres's expiry. A holder paused (SIGSTOP, a long GC, a hung host) past that finds on
 * waking that it holds nothing, before it publishes anything: the instance that took over
 * meanwhile has published those rows. The remaining window is a pause between that check and
 * the socket write of one publish, which can send a copy the consumers' inbox then drops.
 *
 * Each relay holds under a holder name of its own (instance id and a random suffix): two
 * processes started with one INSTANCE_ID must not both believe they hold a shard.
 */
export class RelayLeases {
  readonly holder: string;
  private validUntil = 0;
  private held = new Set<number>();

  constructor(
    private readonly schema: string,
    instanceId: string,
    private readonly ttlMs: number,
  ) {
    this.holder = `${instanceId}:${randomUUID().slice(0, 8)}`;
  }

  /** Shards held now by our own clock (checked before every publish). */
  get shards(): ReadonlySet<number> {
    return performance.now() < this.validUntil ? this.held : new Set();
  }

  holds(shard: number): boolean {
    return this.shards.has(shard);
  }

  /**
   * Takes the wanted shards that are free or expired and renews the ones we hold; lets go of
   * held shards no longer wanted. Returns what changed.
   */
  async acquire(client: Client, wanted: readonly number[]): Promise<{ gained: number[]; lost: number[] }> {
    const before = this.shards;
    const unwanted = [...before].filter((s) => !wanted.includes(s));
    if (unwanted.length > 0) await this.release(client, unwanted);
    const sentAt = performance.now();
    const res =
      wanted.length === 0
        ? { rows: [] as { name: string }[] }
        : await client.query<{ name: string }>(
            `INSERT INTO "${this.schema}".relay_lease (name, holder, expires_at)
             SELECT n, $2, now() + $3 * interval '1 millisecond' FROM unnest($1::text[]) AS n
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
             WHERE relay_lease.holder = EXCLUDED.holder OR relay_lease.expires_at < now()
             RETURNING name`,
            [wanted.map(shardLeaseName), this.holder, this.ttlMs],
          );
    const now = new Set(res.rows.map((r) => Number(r.name.slice(r.name.indexOf(':') + 1))));
    this.held = now;
    this.validUntil = now.size > 0 ? sentAt + this.ttlMs : 0;
    return { gained: [...now].filter((s) => !before.has(s)), lost: [...before].filter((s) => !now.has(s)) };
  }

  /** Lets go of some shards (or all) at once, so the next holder need not wait out the TTL. */
  async release(client: Client, shards: readonly number[] = [...this.held]): Promise<void> {
    for (const s of shards) this.held.delete(s);
    if (this.held.size === 0) this.validUntil = 0;
    if (shards.length === 0) return;
    await client.query(`UPDATE "${this.schema}".relay_lease SET expires_at = now() WHERE name = ANY($1::text[]) AND holder = $2`, [shards.map(shardLeaseName), this.holder]);
  }

  /** Forgets every shard locally (its session is gone, or a renewal failed past its validity). */
  drop(): void {
    this.held = new Set();
    this.validUntil = 0;
  }
}

/** Who holds which shards of a schema's outbox now (ops status, the flood): holder → shards. */
export async function relayLeaseHolders(query: (sql: string, params: unknown[]) => Promise<{ name: string; holder: string }[]>, schema: string): Promise<Map<string, number[]>> {
  const rows = await query(`SELECT name, holder FROM "${schema}".relay_lease WHERE name LIKE 'outbox:%' AND expires_at > now() ORDER BY name`, []);
  const holders = new Map<string, number[]>();
  for (const r of rows) holders.set(r.holder, [...(holders.get(r.holder) ?? []), Number(r.name.slice(r.name.indexOf(':') + 1))]);
  for (const shards of holders.values()) shards.sort((a, b) => a - b);
  return holders;
}
