import { z } from 'zod';
import { Id, Quantity, Reason, rule, StockLevels, StockLine } from './common';

// ---- commands (to inventory-worker) ------------------------------------------------------

export const RegisterWarehouse = z.strictObject({ warehouseId: Id, name: z.string().min(1).max(200) });

export const ReceiveStock = z.strictObject({
  productId: Id,
  warehouseId: Id,
  quantity: Quantity,
  reference: Reason.optional(),
});

export const AdjustStock = z.discriminatedUnion('mode', [
  z.strictObject({
    mode: z.literal('delta'),
    productId: Id,
    warehouseId: Id,
    delta: rule(z.number().int().min(-1_000_000).max(1_000_000), (d) => d !== 0, 'must not be 0'),
    reason: Reason,
  }),
  z.strictObject({
    mode: z.literal('set'),
    productId: Id,
    warehouseId: Id,
    count: z.number().int().min(0).max(100_000_000),
    expectedVersion: z.number().int().min(0),
    reason: Reason,
  }),
]);

export const TransferStock = rule(
  z.strictObject({ productId: Id, fromWarehouseId: Id, toWarehouseId: Id, quantity: Quantity }),
  (t) => t.fromWarehouseId !== t.toWarehouseId,
  'fromWarehouseId and toWarehouseId must differ',
);

export const ShipStock = z.strictObject({ productId: Id, warehouseId: Id, quantity: Quantity, reference: Reason.optional() });

export const ReserveStock = rule(
  z.strictObject({
    reservationId: Id,
    orderId: Id.optional(),
    lines: z.array(StockLine).min(1).max(50),
    /** Hold time; the worker's RESERVATION_TTL_MS when absent. */
    ttlMs: z.number().int().min(100).max(7 * 86_400_000).optional(),
  }),
  (r) => new Set(r.lines.map((l) => `${l.productId}:${l.warehouseId}`)).size === r.lines.length,
  'each product+warehouse may appear once per reservation',
);

export const ReleaseReservation = z.strictObject({ reservationId: Id, reason: Reason.optional() });
export const CommitReservation = z.strictObject({ reservationId: Id });
export const ExpireReservation = z.strictObject({ reservationId: Id });

// ---- events (from inventory-worker) ------------------------------------------------------

/**
 * Most units one product+warehouse can hold (inventory.stock.on_hand is a Postgres integer).
 * A move that would go past it is refused with reason capacity_exceeded, as a business refusal.
 */
export const MAX_ON_HAND = 2_147_483_647;

const RejectReason = z.enum([
  'insufficient_stock',
  'unknown_item',
  'unknown_warehouse',
  'version_conflict',
  'reservation_exists',
  'reservation_closed',
]);
/** Refusals of moves that add stock to a row: also capacity_exceeded (past MAX_ON_HAND). */
const AddRejectReason = z.enum([...RejectReason.options, 'capacity_exceeded']);

export const WarehouseRegistered = z.strictObject({ warehouseId: Id, name: z.string() });

export const StockReceived = z.strictObject({ productId: Id, warehouseId: Id, quantity: Quantity }).extend(StockLevels.shape);
export const StockReceiptRejected = z.strictObject({ productId: Id, warehouseId: Id, quantity: Quantity, reason: AddRejectReason });

export const StockAdjusted = z
  .strictObject({ productId: Id, warehouseId: Id, mode: z.enum(['delta', 'set']), delta: z.number().int(), reason: Reason })
  .extend(StockLevels.shape);
export const StockAdjustmentRejected = z.strictObject({
  productId: Id,
  warehouseId: Id,
  mode: z.enum(['delta', 'set']),
  reason: AddRejectReason,
  currentVersion: z.number().int(),
  onHand: z.number().int(),
  reserved: z.number().int(),
});

export const StockTransferred = z.strictObject({ productId: Id, fromWarehouseId: Id, toWarehouseId: Id, quantity: Quantity });
export const StockTransferRejected = z.strictObject({
  productId: Id,
  fromWarehouseId: Id,
  toWarehouseId: Id,
  quantity: Quantity,
  reason: AddRejectReason,
  available: z.number().int(),
});

export const StockShipped = z.strictObject({ productId: Id, warehouseId: Id, quantity: Quantity });
export const StockShipmentRejected = z.strictObject({
  productId: Id,
  warehouseId: Id,
  quantity: Quantity,
  reason: RejectReason,
  available: z.number().int(),
});

export const StockReserved = z.strictObject({
  reservationId: Id,
  orderId: Id.optional(),
  lines: z.array(StockLine),
  expiresAt: z.string(),
});
export const StockReservationRejected = z.strictObject({
  reservationId: Id,
  orderId: Id.optional(),
  reason: RejectReason,
  lines: z.array(StockLine.extend({ available: z.number().int() })),
});

const ReservationOutcome = z.strictObject({ reservationId: Id, orderId: Id.optional(), lines: z.array(StockLine) });
export const ReservationReleased = ReservationOutcome.extend({ reason: Reason.optional() });
export const ReservationCommitted = ReservationOutcome;
export const ReservationExpired = ReservationOutcome;

/** A release/commit/expire the reservation's state no longer allows: answered, never retried. */
export const ReservationTransitionRejected = z.strictObject({
  reservationId: Id,
  orderId: Id.optional(),
  attempted: z.enum(['release', 'commit', 'expire']),
  status: z.enum(['held', 'released', 'committed', 'expired', 'unknown']),
});

export const StockChanged = z
  .strictObject({ productId: Id, warehouseId: Id, available: z.number().int() })
  .extend(StockLevels.shape);
