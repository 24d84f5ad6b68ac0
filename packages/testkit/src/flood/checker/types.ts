import type { Pool, PoolClient } from 'pg';
import type { FaultRecord } from '../faults/injector';
import type { History } from '../history/history';
import type { ProviderLedgerSnapshot } from '../provider/provider-handle';
import { Catalogue } from '../workload/catalogue';

export const INVARIANTS = ['stock-levels', 'conservation', 'exactly-once', 'nothing-lost', 'orders', 'per-key-order', 'id-reuse', 'dead-letters', 'forged-webhooks', 'relay-failover', 'pause-held', 'node-failover'] as const;
export type InvariantName = (typeof INVARIANTS)[number];

/** Each invariant's wording, numbered as in docs/concurrent-testing.md (What the checker proves). */
export const INVARIANT_TITLES: Record<InvariantName, string> = {
  'stock-levels': '1. per product+warehouse: on_hand = Σ ledger, on_hand ≥ 0, 0 ≤ reserved ≤ on_hand, reserved = Σ held reservations',
  conservation: '2. conservation: Σ on_hand = initial + receipts − shipments − commits ± adjustments (transfers net 0)',
  'exactly-once': '3. exactly-once: one inbox row and at most one set of effects per command id; duplicates have none',
  'nothing-lost': '4. nothing lost: every published command is in an inbox or a dead-letter queue',
  orders: '5. every order terminal; CONFIRMED ⇔ one captured, unrefunded charge of its amount in its currency and a committed reservation; otherwise no held stock and net charge 0',
  'per-key-order': '6. per-key order: the commands of one key took effect in publish order (within each publisher session)',
  'id-reuse': '7. a message id reused for another message is refused (dead-lettered id_reused) and its first message took effect once, as published',
  'dead-letters': '8. every dead letter and parked outbox row is accounted for: each has a reason, each malformed message is dead-lettered with its own, nothing is left parked',
  'forged-webhooks': '9. no forged, tampered, unsigned or replayed webhook is accepted by the gateway',
  'relay-failover': '10. the shards of a paused outbox relay are relayed by other instances within LEASE_TTL_MS and a few seconds',
  'pause-held': '11. an operator\'s pause holds: every instance lets go of the paused partitions within 15 s, and nothing of them is applied until the resume',
  'node-failover': '12. a RabbitMQ node down (node, rolling-restart faults): every partition queue it led gets a leader on another node while it is down, and moves on again (the target: within 10 s)',
};

export interface InvariantResult {
  name: InvariantName;
  title: string;
  ok: boolean;
  /** How many offending keys / ids / rows. */
  violations: number;
  /** The first offenders, each with enough detail to look it up. */
  examples: string[];
  /** How many things were checked (keys, commands, orders …). */
  checked: number;
  /** Extra figures shown in the report (e.g. the conservation equation). */
  details?: Record<string, number | string>;
}

export interface DeadLetter {
  queue: string;
  messageId: string | undefined;
  type: string | undefined;
  reason: string | undefined;
}

export interface Db {
  query<R>(sql: string, params?: unknown[]): Promise<R[]>;
}

export function dbOf(pool: Pool | PoolClient): Db {
  return { query: async <R>(sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as R[] };
}

export interface CheckInput {
  /** The run tag every id of the run carries (the checker's scope). */
  tag: string;
  history: History;
  deadLetters: DeadLetter[];
  provider: ProviderLedgerSnapshot;
  db: Db;
  /** The faults injected (their measures: failovers, forged webhooks accepted). */
  faults?: FaultRecord[];
}

export interface CheckContext extends CheckInput {
  prefix: ReturnType<typeof Catalogue.prefixes>;
}

export const MAX_EXAMPLES = 10;

/** The event ids of the forged-webhooks fault's webhooks in a run. */
export function forgedWebhookPrefix(tag: string): string {
  return `evt-forged-${tag}-`;
}

export function result(name: InvariantName, offenders: string[], checked: number, details?: InvariantResult['details']): InvariantResult {
  return { name, title: INVARIANT_TITLES[name], ok: offenders.length === 0, violations: offenders.length, examples: offenders.slice(0, MAX_EXAMPLES), checked, ...(details ? { details } : {}) };
}

/** The consumer (inbox `consumer` column) of each worker kind. */
export const CONSUMER = { inventory: 'inventory-worker', orders: 'order-worker', payments: 'payment-worker' } as const;
