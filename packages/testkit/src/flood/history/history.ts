import { stockKey } from '@stockflow/shared';
import type { HistoryWriter } from './history-file';

export type DuplicateKind = false | 'concurrent' | 'late';

/** One publish the flood made. Duplicates share id, payload and sequence with their original. */
export interface PublishRecord {
  /** Publish index (0-based, in publish order). */
  i: number;
  id: string;
  type: string;
  key: string;
  sequence: number;
  /** The publisher session the sequence belongs to (a publisher-restart fault starts a new one). */
  session: string;
  /** Not false for a re-publish: the id is the original's. */
  dup: DuplicateKind;
  setup?: boolean;
  /** When it was handed to the broker (ms since epoch), first attempt. */
  t: number;
  /** When the broker confirmed it; undefined if it never did. */
  confirmedAt?: number;
  attempts: number;
  /** The payload as published (kept for originals only; set adjustments are completed at publish time). */
  payload?: unknown;
  /** Sent through the HTTP gateway (--via http): numbered by the gateway's own session, not `sequence`. */
  via?: 'http';
}

/**
 * A message the flood sent to be refused, not applied: an id reused for another message
 * (expect id_reused) or a malformed one (expect invalid_schema). Kept apart from the commands.
 */
export interface AdversarialRecord {
  id: string;
  type: string;
  kind: 'reuse' | 'bad';
  expect: 'id_reused' | 'invalid_schema';
  t: number;
}

/** Inventory effects the conservation check sums, in compact form. */
export type Effect =
  | { kind: 'received' | 'shipped' | 'adjusted'; key: string; qty: number }
  | { kind: 'transferred'; from: string; to: string; qty: number }
  | { kind: 'committed'; lines: { key: string; qty: number }[] };

/** One event seen on the events exchange (deduplicated by message id: the relay is at-least-once). */
export interface EventRecord {
  id: string;
  type: string;
  /** The message whose processing emitted it. */
  cause: string | undefined;
  t: number;
  effect?: Effect;
  orderId?: string;
}

export interface Levels {
  onHand: number;
  reserved: number;
  version: number;
}

/**
 * Everything the flood did and saw: every publish (with duplicates and retries) and every
 * distinct event. The checker proves the invariants from this plus the database and the
 * provider's ledger. Kept compact in memory (a 100k-command flood sees ~10^6 events); the raw
 * messages can be streamed to files with --history.
 */
export class History {
  readonly publishes: PublishRecord[] = [];
  /** Messages sent to be refused (id reuse, malformed): see AdversarialRecord. */
  readonly adversarial: AdversarialRecord[] = [];
  readonly events = new Map<string, EventRecord>();
  /** Event copies seen again (relay republish, tap redelivery). */
  eventRepeats = 0;
  /** Latest levels per key (highest version) from the `levels` of the events, for set adjustments. */
  readonly levels = new Map<string, Levels>();
  /** First event caused by each command, for end-to-end latency. */
  readonly firstEffectAt = new Map<string, number>();
  private readonly originals = new Map<string, PublishRecord>();

  constructor(private readonly writer?: HistoryWriter) {}

  recordPublish(r: PublishRecord): void {
    this.publishes.push(r);
    if (!r.dup && !this.originals.has(r.id)) this.originals.set(r.id, r);
  }

  recordAdversarial(r: AdversarialRecord): void {
    this.adversarial.push(r);
  }

  /** Called when a publish settles, to keep the file history complete. */
  settled(r: PublishRecord): void {
    this.writer?.publish(r);
  }

  original(id: string): PublishRecord | undefined {
    return this.originals.get(id);
  }

  /** Distinct commands (originals), in first-publish order. */
  commands(): PublishRecord[] {
    return [...this.originals.values()];
  }

  recordEvent(raw: { id: string; type: string; cause: string | undefined; t: number; payload: Record<string, unknown> }): void {
    if (this.events.has(raw.id)) {
      this.eventRepeats++;
      return;
    }
    this.writer?.event(raw);
    const rec: EventRecord = { id: raw.id, type: raw.type, cause: raw.cause, t: raw.t };
    const p = raw.payload;
    const effect = effectOf(raw.type, p);
    if (effect) rec.effect = effect;
    if (typeof p.orderId === 'string') rec.orderId = p.orderId;
    if (Array.isArray(p.levels)) for (const l of p.levels as Record<string, unknown>[]) this.noteLevels(l);
    this.events.set(raw.id, rec);
    if (raw.cause && this.originals.has(raw.cause) && !this.firstEffectAt.has(raw.cause)) this.firstEffectAt.set(raw.cause, raw.t);
  }

  /** Test seam for sabotage tests: forget an event as if the tap had never seen it. */
  forgetEvent(id: string): boolean {
    return this.events.delete(id);
  }

  private noteLevels(p: Record<string, unknown>): void {
    const key = stockKey(String(p.productId), String(p.warehouseId));
    const version = Number(p.version);
    const prev = this.levels.get(key);
    if (prev && prev.version >= version) return;
    this.levels.set(key, { onHand: Number(p.onHand), reserved: Number(p.reserved), version });
  }
}

function effectOf(type: string, p: Record<string, unknown>): Effect | undefined {
  const key = () => stockKey(String(p.productId), String(p.warehouseId));
  switch (type) {
    case 'StockReceived':
      return { kind: 'received', key: key(), qty: Number(p.quantity) };
    case 'StockShipped':
      return { kind: 'shipped', key: key(), qty: Number(p.quantity) };
    case 'StockAdjusted':
      return { kind: 'adjusted', key: key(), qty: Number(p.delta) };
    case 'StockTransferred':
      return { kind: 'transferred', from: stockKey(String(p.productId), String(p.fromWarehouseId)), to: stockKey(String(p.productId), String(p.toWarehouseId)), qty: Number(p.quantity) };
    case 'ReservationCommitted': {
      const lines = Array.isArray(p.lines) ? (p.lines as { productId: string; warehouseId: string; quantity: number }[]) : [];
      return { kind: 'committed', lines: lines.map((l) => ({ key: stockKey(l.productId, l.warehouseId), qty: Number(l.quantity) })) };
    }
    default:
      return undefined;
  }
}
