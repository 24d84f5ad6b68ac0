import { EventEmitter } from 'node:events';
import type { Client } from 'pg';
import type { OutboxRecord } from '../db/outbox';
import { keyHash } from '../db/outbox-shards';

interface Row extends OutboxRecord {
  createdAt: number;
}

/**
 * The outbox relay's view of Postgres, in memory, for unit specs: the outbox table, the shard
 * leases, and LISTEN. It answers the relay's statements by their shape (the SQL of
 * outbox-read.ts, relay-lease.ts, outbox-parking.ts and the relay's DELETE), records every
 * statement in order, and can stall (a paused database: lease renewals never answer).
 */
export class FakeOutboxDb {
  readonly rows: Row[] = [];
  readonly leases = new Map<string, { holder: string; expiresAt: number }>();
  /** Every statement's first words, in order (what the relay did, for ordering checks). */
  readonly log: string[] = [];
  /** Lease statements wait until this is false again. */
  stalled = false;
  private nextId = 1;
  private readonly sessions = new Set<FakeSession>();

  /** Rows as a worker's transaction would commit them; returns them with their ids, as handoff() takes them. */
  insert(rows: { messageId: string; key: string; mandatory?: boolean }[]): OutboxRecord[] {
    return rows.map((r) => {
      const row: Row = {
        id: String(this.nextId++),
        messageId: r.messageId,
        type: 'StockReceived',
        exchange: 'x',
        routingKey: 'r',
        mandatory: r.mandatory ?? false,
        properties: { headers: { 'x-partition-key': r.key } },
        payload: '{}',
        watchExchange: null,
        watchRoutingKey: null,
        keyHash: keyHash(r.key),
        createdAt: Date.now(),
      };
      this.rows.push(row);
      const { createdAt: _, ...record } = row;
      return record;
    });
  }

  /** A NOTIFY on the outbox channel, as another instance's commit sends it. */
  notify(payload: string): void {
    for (const s of this.sessions) s.emit('notification', { channel: 'outbox', payload });
  }

  /** What OutboxRelayOptions.session takes. */
  session = (): Client => {
    const s = new FakeSession(this);
    this.sessions.add(s);
    return s as unknown as Client;
  };

  holders(): Map<string, string> {
    const now = Date.now();
    return new Map([...this.leases].filter(([, l]) => l.expiresAt > now).map(([name, l]) => [name, l.holder]));
  }

  async answer(sql: string, params: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number }> {
    this.log.push(sql.trim().split(/\s+/).slice(0, 3).join(' '));
    const now = Date.now();
    if (/^\s*LISTEN/.test(sql)) return { rows: [], rowCount: 0 };
    if (/relay_lease/.test(sql)) {
      while (this.stalled) await new Promise((r) => setTimeout(r, 5));
      const [names, holder, ttl] = params as [string[], string, number?];
      if (/^\s*INSERT/.test(sql)) {
        const won = names.filter((n) => {
          const l = this.leases.get(n);
          if (l && l.holder !== holder && l.expiresAt >= now) return false;
          this.leases.set(n, { holder, expiresAt: now + ttl! });
          return true;
        });
        return { rows: won.map((name) => ({ name })), rowCount: won.length };
      }
      for (const n of names) if (this.leases.get(n)?.holder === holder) this.leases.get(n)!.expiresAt = now;
      return { rows: [], rowCount: 0 };
    }
    if (/outbox_parked/.test(sql)) return { rows: [], rowCount: 0 };
    if (/^\s*DELETE FROM "[^"]+"\.outbox WHERE id = ANY/.test(sql)) {
      const ids = new Set(params[0] as string[]);
      const before = this.rows.length;
      this.rows.splice(0, this.rows.length, ...this.rows.filter((r) => !ids.has(r.id)));
      return { rows: [], rowCount: before - this.rows.length };
    }
    if (/^\s*SELECT id, message_id/.test(sql)) return { rows: this.read(sql, params), rowCount: 0 };
    throw new Error(`FakeOutboxDb does not know this statement: ${sql.slice(0, 80)}`);
  }

  /** readOutbox(): limit $1, then the optional conditions in the order it adds them. */
  private read(sql: string, params: unknown[]): Record<string, unknown>[] {
    const p = (n: string) => params[Number(n) - 1];
    let rows = [...this.rows];
    const age = /created_at < now\(\) - \$(\d+)/.exec(sql);
    if (age) rows = rows.filter((r) => r.createdAt < Date.now() - Number(p(age[1]!)));
    const below = /id < \$(\d+)::bigint/.exec(sql);
    if (below) rows = rows.filter((r) => Number(r.id) < Number(p(below[1]!)));
    const shards = /% \$(\d+) = ANY\(\$(\d+)::int\[\]\)/.exec(sql);
    if (shards) rows = rows.filter((r) => (p(shards[2]!) as number[]).includes(r.keyHash % Number(p(shards[1]!))));
    const held = /= ANY\(\$(\d+)::text\[\]\)\) OR id = ANY\(\$(\d+)::bigint\[\]\)/.exec(sql);
    if (held) {
      const keys = new Set(p(held[1]!) as string[]);
      const due = new Set(p(held[2]!) as string[]);
      rows = rows.filter((r) => !keys.has(String((r.properties.headers as Record<string, unknown>)['x-partition-key'])) || due.has(r.id));
    }
    return rows
      .sort((a, b) => Number(a.id) - Number(b.id))
      .slice(0, Number(params[0]))
      .map((r) => ({ id: r.id, message_id: r.messageId, type: r.type, exchange: r.exchange, routing_key: r.routingKey, mandatory: r.mandatory, properties: r.properties, payload: r.payload, watch_exchange: null, watch_routing_key: null, age_ms: Date.now() - r.createdAt, key_hash: String(r.keyHash) }));
  }
}

class FakeSession extends EventEmitter {
  constructor(private readonly db: FakeOutboxDb) {
    super();
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  query(sql: string, params: unknown[] = []): Promise<{ rows: Record<string, unknown>[]; rowCount: number }> {
    return this.db.answer(sql, params);
  }

  end(): Promise<void> {
    return Promise.resolve();
  }
}
