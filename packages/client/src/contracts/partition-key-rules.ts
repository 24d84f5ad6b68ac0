import type { MessageType } from './registry';

/**
 * The partition key of each message type, written for humans: `{field}` is a payload field
 * (dots for nested ones), `{a|b}` the first of the two that is present. The registry's
 * partitionKey functions stay the truth; examples.spec.ts evaluates every rule against the
 * example payloads and fails when a rule and its function disagree, so the docs cannot drift.
 */
export const partitionKeyRules: { readonly [T in MessageType]: string } = {
  RegisterWarehouse: 'warehouse:{warehouseId}',
  ReceiveStock: '{productId}:{warehouseId}',
  AdjustStock: '{productId}:{warehouseId}',
  TransferStock: '{productId}:{fromWarehouseId}',
  ShipStock: '{productId}:{warehouseId}',
  ReserveStock: '{reservationId}',
  ReleaseReservation: '{reservationId}',
  CommitReservation: '{reservationId}',
  ExpireReservation: '{reservationId}',
  WarehouseRegistered: 'warehouse:{warehouseId}',
  StockReceived: '{productId}:{warehouseId}',
  StockReceiptRejected: '{productId}:{warehouseId}',
  StockAdjusted: '{productId}:{warehouseId}',
  StockAdjustmentRejected: '{productId}:{warehouseId}',
  StockTransferred: '{productId}:{fromWarehouseId}',
  StockTransferRejected: '{productId}:{fromWarehouseId}',
  StockShipped: '{productId}:{warehouseId}',
  StockShipmentRejected: '{productId}:{warehouseId}',
  StockReserved: '{orderId|reservationId}',
  StockReservationRejected: '{orderId|reservationId}',
  ReservationReleased: '{orderId|reservationId}',
  ReservationCommitted: '{orderId|reservationId}',
  ReservationExpired: '{orderId|reservationId}',
  ReservationTransitionRejected: '{orderId|reservationId}',
  PlaceOrder: '{orderId}',
  CancelOrder: '{orderId}',
  OrderPlaced: '{orderId}',
  OrderConfirmed: '{orderId}',
  OrderRejected: '{orderId}',
  OrderCancelled: '{orderId}',
  OrderCancelRejected: '{orderId}',
  OrderExpired: '{orderId}',
  OrderReviewRequired: '{orderId}',
  RefundRequested: '{orderId}',
  RequestPayment: '{orderId}',
  ReconcilePayment: '{orderId}',
  ProviderWebhook: '{data.orderId}',
  PaymentCaptured: '{orderId}',
  PaymentFailed: '{orderId}',
  PaymentRefunded: '{orderId}',
};

function field(payload: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), payload);
}

/** The key a rule gives for a payload; throws when a named field is missing. */
export function applyPartitionKeyRule(rule: string, payload: unknown): string {
  return rule.replace(/\{([^}]+)\}/g, (_, alternatives: string) => {
    for (const path of alternatives.split('|')) {
      const v = field(payload, path);
      if (typeof v === 'string' || typeof v === 'number') return String(v);
    }
    throw new Error(`partition key rule ${rule}: none of ${alternatives} is present`);
  });
}
