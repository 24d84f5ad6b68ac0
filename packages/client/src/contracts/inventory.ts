import { z } from 'zod';
import { Id, Quantity, Reason, RowLevels, rule, StockLevels, StockLine } from './common';

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

/**
 * The rows a message changed, each with its levels after the change, in the order it changed
 * them: what a read model of stock levels applies (by `version`, per row). An event that is
 * sometimes sent without a change (StockReserved answering a hold that already exists) has it
 * empty then, so every event of a type has one shape.
 */
const Levels = z.array(RowLevels);

export const WarehouseRegistered = z.strictObject({ warehouseId: Id, name: z.string() });

export const StockReceived = z.strictObject({ productId: Id, warehouseId: Id, quantity: Quantity }).extend({ ...StockLevels.shape, levels: Levels });
export const StockReceiptRejected = z.strictObject({ productId: Id, warehouseId: Id, quantity: Quantity, reason: AddRejectReason });

export const StockAdjusted = z
  .strictObject({ productId: Id, warehouseId: Id, mode: z.enum(['delta', 'set']), delta: z.number().int(), reason: Reason })
  .extend({ ...StockLevels.shape, levels: Levels });
export const StockAdjustmentRejected = z.strictObject({
  productId: Id,
  warehouseId: Id,
  mode: z.enum(['delta', 'set']),
  reason: AddRejectReason,
  currentVersion: z.number().int(),
  onHand: z.number().int(),
  reserved: z.number().int(),
});

/** `levels`: the source row, then the destination row. */
export const StockTransferred = z.strictObject({ productId: Id, fromWarehouseId: Id, toWarehouseId: Id, quantity: Quantity, levels: Levels });
export const StockTransferRejected = z.strictObject({
  productId: Id,
  fromWarehouseId: Id,
  toWarehouseId: Id,
  quantity: Quantity,
  reason: AddRejectReason,
  available: z.number().int(),
});

export const StockShipped = z.strictObject({ productId: Id, warehouseId: Id, quantity: Quantity, levels: Levels });
export const StockShipmentRejected = z.strictObject({
  productId: Id,
  warehouseId: Id,
  quantity: Quantity,
  reason: RejectReason,
  available: z.number().int(),
});

/** `levels`: one per line, in line order; empty when it answers again for a hold that already exists. */
export const StockReserved = z.strictObject({
  reservationId: Id,
  orderId: Id.optional(),
  lines: z.array(StockLine),
  expiresAt: z.string(),
  levels: Levels,
});
export const StockReservationRejected = z.strictObject({
  reservationId: Id,
  orderId: Id.optional(),
  reason: RejectReason,
  lines: z.array(StockLine.extend({ available: z.number().int() })),
});

/** `levels`: one per line, in line order. */
const ReservationOutcome = z.strictObject({ reservationId: Id, orderId: Id.optional(), lines: z.array(StockLine), levels: Levels });
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
