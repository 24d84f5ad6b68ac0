import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';

const LEASE_NAME = 'outbox';

/**
 * Which instance's relay publishes a schema's outbox: a lease row in `<schema>.relay_lease`
 * that the holder renews (every heartbeat) and that anybody may take once it has expired.
 *
 * Postgres decides who holds it (its clock sets and compares expires_at); the holder decides
 * locally how long it may still act, from its own monotonic clock: the lease is taken as valid
 * until `ttlMs` after the renewal was *sent*, which is never later than Postgres's expiry. A
 * holder paused (SIGSTOP, a long GC, a hung host) past that finds on waking that it no longer
 * leads, before it publishes anything: the instance that took over meanwhile has published
 * those rows. The remaining window is a pause between that check and the socket write of one
 * publish, which can send a copy the consumers' inbox then drops.
 *
 * Each relay holds under a holder name of its own (instance id and a random suffix): two
 * processes started with one INSTANCE_ID must not both believe they lead.
 */
export class RelayLease {
  readonly holder: string;
  private validUntil = 0;

  constructor(
    private readonly schema: string,
    instanceId: string,
    private readonly ttlMs: number,
  ) {
    this.holder = `${instanceId}:${randomUUID().slice(0, 8)}`;
  }

  /** True while the lease is ours by our own clock (checked before every publish). */
  get held(): boolean {
    return performance.now() < this.validUntil;
  }

  /** Takes the lease if it is free or expired, or renews ours. Returns whether we hold it now. */
  async acquire(client: Client): Promise<boolean> {
    const sentAt = performance.now();
    const res = await client.query<{ holder: string }>(
      `INSERT INTO "${this.schema}".relay_lease (name, holder, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE relay_lease.holder = EXCLUDED.holder OR relay_lease.expires_at < now()
       RETURNING holder`,
      [LEASE_NAME, this.holder, this.ttlMs],
    );
    this.validUntil = res.rows.length === 1 ? sentAt + this.ttlMs : 0;
    return this.validUntil > 0;
  }

  /** Lets go at once (a stopping relay), so the next instance need not wait out the TTL. */
  async release(client: Client): Promise<void> {
    this.validUntil = 0;
    await client.query(`UPDATE "${this.schema}".relay_lease SET expires_at = now() WHERE name = $1 AND holder = $2`, [LEASE_NAME, this.holder]);
  }

  /** Forgets the lease locally (its session is gone, or a renewal failed past its validity). */
  drop(): void {
    this.validUntil = 0;
  }
}

/** Who holds a schema's relay lease now (ops status), or undefined when nobody does. */
export async function relayLeaseHolder(query: (sql: string, params: unknown[]) => Promise<{ holder: string; expires_in_ms: number }[]>, schema: string): Promise<{ holder: string; expiresInMs: number } | undefined> {
  const [row] = await query(`SELECT holder, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS expires_in_ms FROM "${schema}".relay_lease WHERE name = $1 AND expires_at > now()`, [LEASE_NAME]);
  return row && { holder: row.holder, expiresInMs: row.expires_in_ms };
}
