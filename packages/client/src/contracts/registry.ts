import type { z } from 'zod';
import { stockKey } from './common';
import * as inv from './inventory';
import * as ord from './orders';
import * as pay from './payments';

/**
 * The one list of every message in the system. Publishers, consumers, topology, the docs and
 * the AsyncAPI file are all derived from it; nothing else names a message type.
 */
export const WORKER_KINDS = ['inventory', 'orders', 'payments'] as const;
export type WorkerKind = (typeof WORKER_KINDS)[number];

/**
 * How a payload of an older version of a message becomes one of the next version: validated
 * with the schema it had then, then rewritten. A worker that moved a message to a new version
 * still applies the copies of the old one that are in flight (queued, dead-lettered and
 * replayed, sent by a publisher not upgraded yet).
 */
export interface Upcaster {
  readonly from: number;
  readonly schema: z.ZodType;
  readonly upcast: (payload: never) => unknown;
}

export function upcaster<S extends z.ZodType>(from: number, schema: S, upcast: (payload: z.infer<S>) => unknown): Upcaster {
  return { from, schema, upcast };
}

interface Base<S extends z.ZodType> {
  readonly schema: S;
  /** The version publishers send (x-version); older ones are accepted through `upcasters`. */
  readonly version: number;
  /** One per older version still accepted, oldest first, each to the version after it. */
  readonly upcasters: readonly Upcaster[];
  /** The part of the payload its message id stands for (its fingerprint), when not all of it. */
  readonly identity?: z.ZodType;
  /** Headers a publisher must set, and why (a typed publisher cannot make them up). */
  readonly requiredHeaders?: Readonly<Record<string, string>>;
  /** Messages with equal keys land on the same partition and are applied in publish order. */
  partitionKey(payload: z.infer<S>): string;
  readonly summary: string;
}
export interface CommandContract<S extends z.ZodType = z.ZodType> extends Base<S> {
  readonly kind: 'command';
  /** The worker whose command exchange receives it. */
  readonly worker: WorkerKind;
  /** Sent by stockflow's own components (the order saga, a scheduler, a sweep), not by upstreams: the HTTP gateway refuses it. */
  readonly internal: boolean;
}
export interface EventContract<S extends z.ZodType = z.ZodType> extends Base<S> {
  readonly kind: 'event';
  readonly source: WorkerKind;
  /** Workers whose partition queues are bound to this event. */
  readonly consumers: readonly WorkerKind[];
  /** A business refusal of the command that caused it (not enough stock, a transition not allowed). */
  readonly refusal: boolean;
}
export type Contract = CommandContract | EventContract;

interface Extras {
  version?: number;
  upcasters?: readonly Upcaster[];
  identity?: z.ZodType;
  requiredHeaders?: Readonly<Record<string, string>>;
  internal?: boolean;
}

function command<S extends z.ZodType>(worker: WorkerKind, schema: S, partitionKey: (p: z.infer<S>) => string, summary: string, extras: Extras = {}): CommandContract<S> {
  return { kind: 'command', worker, schema, partitionKey, summary, version: 1, upcasters: [], internal: false, ...extras };
}
function event<S extends z.ZodType>(source: WorkerKind, schema: S, partitionKey: (p: z.infer<S>) => string, summary: string, consumers: WorkerKind[] = [], refusal = false): EventContract<S> {
  return { kind: 'event', source, schema, partitionKey, version: 1, upcasters: [], consumers, summary, refusal };
}
/** An event that refuses the command that caused it. */
function refusal<S extends z.ZodType>(source: WorkerKind, schema: S, partitionKey: (p: z.infer<S>) => string, summary: string, consumers: WorkerKind[] = []): EventContract<S> {
  return event(source, schema, partitionKey, summary, consumers, true);
}

/**
 * An inventory event that gained `levels` (the rows it changed) in version 2. A version 1 copy,
 * published before and still queued or dead-lettered, gets the levels its own fields name
 * (`fromV1`: StockReceived and StockAdjusted carry their row's), else `levels: []`: the others
 * named theirs only in the StockChanged that followed them. No worker of stockflow reads levels
 * (order-worker takes the reservation events for their other fields).
 */
function withLevels<S extends z.ZodObject>(c: EventContract<S>, fromV1: (p: Record<string, unknown>) => unknown[] = () => []): EventContract<S> {
  const v1 = c.schema.omit({ levels: true });
  return { ...c, version: 2, upcasters: [upcaster(1, v1, (p) => ({ ...p, levels: fromV1(p) }))] };
}

/** The one row a version 1 StockReceived or StockAdjusted names by its flat fields. */
function ownRow(p: Record<string, unknown>): unknown[] {
  const onHand = p.onHand as number;
  const reserved = p.reserved as number;
  return [{ productId: p.productId, warehouseId: p.warehouseId, onHand, reserved, available: onHand - reserved, version: p.version }];
}

type Line = { productId: string; warehouseId: string };
const byStock = (p: Line) => stockKey(p.productId, p.warehouseId);
/**
 * Reservation commands are keyed by reservationId; the order saga uses reservationId = orderId, so
 * a reservation's events land on the partition of its order at order-worker.
 */
const byReservation = (p: { reservationId: string; orderId?: string | undefined }) => p.orderId ?? p.reservationId;
const byOrder = (p: { orderId: string }) => p.orderId;

export const contracts = {
  // inventory commands
  RegisterWarehouse: command('inventory', inv.RegisterWarehouse, (p) => `warehouse:${p.warehouseId}`, 'Make a warehouse known; stock can only live in known warehouses.'),
  ReceiveStock: command('inventory', inv.ReceiveStock, byStock, 'Goods arrived: on_hand += quantity.'),
  AdjustStock: command('inventory', inv.AdjustStock, byStock, 'Correct on_hand by a delta, or set it to a counted value guarded by the expected version.'),
  TransferStock: command('inventory', inv.TransferStock, (p) => stockKey(p.productId, p.fromWarehouseId), 'Move available stock between two warehouses in one transaction.'),
  ShipStock: command('inventory', inv.ShipStock, byStock, 'Unreserved goods leave: on_hand -= quantity.'),
  ReserveStock: command('inventory', inv.ReserveStock, (p) => p.reservationId, 'Hold stock on every line, all or nothing, until committed, released or expired.'),
  ReleaseReservation: command('inventory', inv.ReleaseReservation, (p) => p.reservationId, 'Give a held reservation back.'),
  CommitReservation: command('inventory', inv.CommitReservation, (p) => p.reservationId, 'Turn a held reservation into a shipment (on_hand and reserved both drop).'),
  ExpireReservation: command('inventory', inv.ExpireReservation, (p) => p.reservationId, 'Sent by the expiry scheduler when a hold is due; releases it if still held.', { internal: true }),
  // inventory events
  WarehouseRegistered: event('inventory', inv.WarehouseRegistered, (p) => `warehouse:${p.warehouseId}`, 'A warehouse became known.'),
  StockReceived: withLevels(event('inventory', inv.StockReceived, byStock, 'Receipt applied, with the new levels.'), ownRow),
  StockReceiptRejected: refusal('inventory', inv.StockReceiptRejected, byStock, 'Receipt refused (unknown warehouse).'),
  StockAdjusted: withLevels(event('inventory', inv.StockAdjusted, byStock, 'Adjustment applied, with the new levels.'), ownRow),
  StockAdjustmentRejected: refusal('inventory', inv.StockAdjustmentRejected, byStock, 'Adjustment refused: version conflict (with the current version) or it would cut into reserved stock.'),
  StockTransferred: withLevels(event('inventory', inv.StockTransferred, (p) => stockKey(p.productId, p.fromWarehouseId), 'Transfer applied to both locations.')),
  StockTransferRejected: refusal('inventory', inv.StockTransferRejected, (p) => stockKey(p.productId, p.fromWarehouseId), 'Transfer refused, with what was available.'),
  StockShipped: withLevels(event('inventory', inv.StockShipped, byStock, 'Shipment applied.')),
  StockShipmentRejected: refusal('inventory', inv.StockShipmentRejected, byStock, 'Shipment refused, with what was available.'),
  StockReserved: withLevels(event('inventory', inv.StockReserved, byReservation, 'Every line is held until expiresAt. Sent again, with empty levels, to a ReserveStock for a reservation already held.', ['orders'])),
  StockReservationRejected: refusal('inventory', inv.StockReservationRejected, byReservation, 'Nothing was held; reason and availability per line.', ['orders']),
  ReservationReleased: withLevels(event('inventory', inv.ReservationReleased, byReservation, 'A hold was given back.', ['orders'])),
  ReservationCommitted: withLevels(event('inventory', inv.ReservationCommitted, byReservation, 'A hold became a shipment.', ['orders'])),
  ReservationExpired: withLevels(event('inventory', inv.ReservationExpired, byReservation, 'A hold timed out and was given back.', ['orders'])),
  ReservationTransitionRejected: refusal('inventory', inv.ReservationTransitionRejected, byReservation, 'A release/commit/expire arrived in a state that does not allow it.', ['orders']),
  // order commands and events
  PlaceOrder: command('orders', ord.PlaceOrder, byOrder, 'Start the order saga: reserve, pay, commit.'),
  CancelOrder: command('orders', ord.CancelOrder, byOrder, 'Cancel an order that is not confirmed yet; releases stock, refunds captured money.', {
    version: 2,
    upcasters: [upcaster(1, ord.CancelOrderV1, ord.cancelOrderFromV1)],
  }),
  OrderPlaced: event('orders', ord.OrderPlaced, byOrder, 'The order was accepted and stock is being reserved.'),
  OrderConfirmed: event('orders', ord.OrderConfirmed, byOrder, 'Paid and stock committed: terminal.'),
  OrderRejected: refusal('orders', ord.OrderRejected, byOrder, 'Refused (stock or payment), with the reason: terminal.'),
  OrderCancelled: event('orders', ord.OrderCancelled, byOrder, 'Cancelled by the customer: terminal.'),
  OrderCancelRejected: refusal('orders', ord.OrderCancelRejected, byOrder, 'A cancel arrived for an order that can no longer be cancelled.'),
  OrderExpired: event('orders', ord.OrderExpired, byOrder, 'The stock hold ran out before the order completed: terminal.'),
  OrderReviewRequired: event('orders', ord.OrderReviewRequired, byOrder, 'A person should look at this order: no rule settles what happened to it (money refunded after it was confirmed).'),
  RefundRequested: event('orders', ord.RefundRequested, byOrder, 'Money was captured for an order that will not be confirmed.', ['payments']),
  // payment commands and events
  RequestPayment: command('payments', pay.RequestPayment, byOrder, 'Charge the order amount at the provider with Idempotency-Key order-{orderId}-payment.', { internal: true }),
  ReconcilePayment: command('payments', pay.ReconcilePayment, byOrder, 'Sent by the pending-charge sweep: ask the provider about a charge still pending and settle it as its webhook would.', { internal: true }),
  ProviderWebhook: command('payments', pay.ProviderWebhook, (p) => p.data.orderId, 'A signed provider webhook (payment.captured, payment.failed, refund.succeeded).', {
    identity: pay.ProviderWebhookIdentity,
    requiredHeaders: { 'x-signature': "the provider's HMAC over the raw body: POST the provider's webhook to the payment worker's /webhooks/provider, or publish its raw bytes with sendRaw" },
  }),
  PaymentCaptured: event('payments', pay.PaymentCaptured, byOrder, 'The provider captured the charge.', ['orders']),
  PaymentFailed: event('payments', pay.PaymentFailed, byOrder, 'The provider declined the charge.', ['orders']),
  PaymentRefunded: event('payments', pay.PaymentRefunded, byOrder, 'The provider refunded the charge.', ['orders']),
} as const;

export type Contracts = typeof contracts;
export type MessageType = keyof Contracts;
export type CommandType = { [K in MessageType]: Contracts[K] extends CommandContract ? K : never }[MessageType];
export type EventType = { [K in MessageType]: Contracts[K] extends EventContract ? K : never }[MessageType];
export type Payload<T extends MessageType> = z.infer<Contracts[T]['schema']>;

export function contractOf(type: string): Contract | undefined {
  return Object.prototype.hasOwnProperty.call(contracts, type) ? (contracts as Record<string, Contract>)[type] : undefined;
}

export function isMessageType(type: string): type is MessageType {
  return contractOf(type) !== undefined;
}

/** The messages a worker kind consumes: its own commands plus events bound to its queues. */
export function inputsOf(worker: WorkerKind): MessageType[] {
  return (Object.keys(contracts) as MessageType[]).filter((t) => {
    const c: Contract = contracts[t];
    return c.kind === 'command' ? c.worker === worker : c.consumers.includes(worker);
  });
}

/** The oldest version of a message a worker still applies (its newest is `version`). */
export function oldestVersion(c: Contract): number {
  return c.upcasters[0]?.from ?? c.version;
}

export function partitionKeyOf<T extends MessageType>(type: T, payload: Payload<T>): string {
  return (contracts[type] as Base<z.ZodType>).partitionKey(payload);
}
