import type { MessageType, Payload } from './registry';

/**
 * One realistic payload per message type, validated against its schema by examples.spec.ts
 * and rendered into docs/messages.md. The mapped type makes a new registry entry without an
 * example a compile error; the payloads tell one story (order o-1001 buys two sku-42 from
 * wh-main for 19.99 EUR each) so the docs read as a trace rather than a list of stubs.
 */
export const examples: { readonly [T in MessageType]: Payload<T> } = {
  // ---- inventory commands
  RegisterWarehouse: { warehouseId: 'wh-main', name: 'Main warehouse, Rotterdam' },
  ReceiveStock: { productId: 'sku-42', warehouseId: 'wh-main', quantity: 120, reference: 'PO-2024-0117' },
  AdjustStock: { mode: 'set', productId: 'sku-42', warehouseId: 'wh-main', count: 118, expectedVersion: 7, reason: 'cycle count 2024-11-23' },
  TransferStock: { productId: 'sku-42', fromWarehouseId: 'wh-main', toWarehouseId: 'wh-east', quantity: 20 },
  ShipStock: { productId: 'sku-42', warehouseId: 'wh-east', quantity: 3, reference: 'B2B-5521' },
  ReserveStock: {
    reservationId: 'o-1001',
    orderId: 'o-1001',
    lines: [{ productId: 'sku-42', warehouseId: 'wh-main', quantity: 2 }],
    ttlMs: 900_000,
  },
  ReleaseReservation: { reservationId: 'o-1001', reason: 'order cancelled' },
  CommitReservation: { reservationId: 'o-1001' },
  ExpireReservation: { reservationId: 'o-1001' },

  // ---- inventory events
  WarehouseRegistered: { warehouseId: 'wh-main', name: 'Main warehouse, Rotterdam' },
  StockReceived: {
    productId: 'sku-42',
    warehouseId: 'wh-main',
    quantity: 120,
    onHand: 120,
    reserved: 0,
    version: 1,
    levels: [{ productId: 'sku-42', warehouseId: 'wh-main', onHand: 120, reserved: 0, available: 120, version: 1 }],
  },
  StockReceiptRejected: { productId: 'sku-42', warehouseId: 'wh-nowhere', quantity: 120, reason: 'unknown_warehouse' },
  StockAdjusted: {
    productId: 'sku-42',
    warehouseId: 'wh-main',
    mode: 'set',
    delta: -2,
    reason: 'cycle count 2024-11-23',
    onHand: 118,
    reserved: 2,
    version: 8,
    levels: [{ productId: 'sku-42', warehouseId: 'wh-main', onHand: 118, reserved: 2, available: 116, version: 8 }],
  },
  StockAdjustmentRejected: { productId: 'sku-42', warehouseId: 'wh-main', mode: 'set', reason: 'version_conflict', currentVersion: 8, onHand: 118, reserved: 2 },
  StockTransferred: {
    productId: 'sku-42',
    fromWarehouseId: 'wh-main',
    toWarehouseId: 'wh-east',
    quantity: 20,
    levels: [
      { productId: 'sku-42', warehouseId: 'wh-main', onHand: 98, reserved: 2, available: 96, version: 9 },
      { productId: 'sku-42', warehouseId: 'wh-east', onHand: 20, reserved: 0, available: 20, version: 1 },
    ],
  },
  StockTransferRejected: { productId: 'sku-42', fromWarehouseId: 'wh-main', toWarehouseId: 'wh-east', quantity: 500, reason: 'insufficient_stock', available: 96 },
  StockShipped: {
    productId: 'sku-42',
    warehouseId: 'wh-east',
    quantity: 3,
    levels: [{ productId: 'sku-42', warehouseId: 'wh-east', onHand: 17, reserved: 0, available: 17, version: 2 }],
  },
  StockShipmentRejected: { productId: 'sku-42', warehouseId: 'wh-east', quantity: 50, reason: 'insufficient_stock', available: 17 },
  StockReserved: {
    reservationId: 'o-1001',
    orderId: 'o-1001',
    lines: [{ productId: 'sku-42', warehouseId: 'wh-main', quantity: 2 }],
    expiresAt: '2024-11-23T16:15:00.000Z',
    levels: [{ productId: 'sku-42', warehouseId: 'wh-main', onHand: 120, reserved: 2, available: 118, version: 7 }],
  },
  StockReservationRejected: {
    reservationId: 'o-1002',
    orderId: 'o-1002',
    reason: 'insufficient_stock',
    lines: [{ productId: 'sku-42', warehouseId: 'wh-main', quantity: 200, available: 96 }],
  },
  ReservationReleased: {
    reservationId: 'o-1001',
    orderId: 'o-1001',
    lines: [{ productId: 'sku-42', warehouseId: 'wh-main', quantity: 2 }],
    levels: [{ productId: 'sku-42', warehouseId: 'wh-main', onHand: 98, reserved: 0, available: 98, version: 10 }],
    reason: 'order cancelled',
  },
  ReservationCommitted: {
    reservationId: 'o-1001',
    orderId: 'o-1001',
    lines: [{ productId: 'sku-42', warehouseId: 'wh-main', quantity: 2 }],
    levels: [{ productId: 'sku-42', warehouseId: 'wh-main', onHand: 96, reserved: 0, available: 96, version: 10 }],
  },
  ReservationExpired: {
    reservationId: 'o-1001',
    orderId: 'o-1001',
    lines: [{ productId: 'sku-42', warehouseId: 'wh-main', quantity: 2 }],
    levels: [{ productId: 'sku-42', warehouseId: 'wh-main', onHand: 98, reserved: 0, available: 98, version: 10 }],
  },
  ReservationTransitionRejected: { reservationId: 'o-1001', orderId: 'o-1001', attempted: 'commit', status: 'expired' },

  // ---- order commands and events
  PlaceOrder: {
    orderId: 'o-1001',
    customerId: 'cust-7',
    currency: 'EUR',
    lines: [{ productId: 'sku-42', warehouseId: 'wh-main', quantity: 2, unitPrice: 1999 }],
    reservationTtlMs: 900_000,
  },
  CancelOrder: { orderId: 'o-1001', reason: 'customer_request', note: 'changed my mind' },
  OrderPlaced: { orderId: 'o-1001', customerId: 'cust-7', amount: 3998, currency: 'EUR' },
  OrderConfirmed: { orderId: 'o-1001', amount: 3998, currency: 'EUR' },
  OrderRejected: { orderId: 'o-1002', reason: 'insufficient_stock', detail: { lines: [{ productId: 'sku-42', warehouseId: 'wh-main', quantity: 200, available: 96 }] } },
  OrderCancelled: { orderId: 'o-1001', previousStatus: 'RESERVED', refund: false },
  OrderCancelRejected: { orderId: 'o-1001', status: 'CONFIRMED' },
  OrderExpired: { orderId: 'o-1001', previousStatus: 'PAID', refund: true },
  OrderReviewRequired: { orderId: 'o-1001', status: 'CONFIRMED', reason: 'refunded_after_confirmation', detail: { refunded: 3998, currency: 'EUR', refundRef: 're_5c1f0a9e44d2b7aa' } },
  RefundRequested: { orderId: 'o-1001', amount: 3998, currency: 'EUR', reason: 'expired' },

  // ---- payment commands and events
  RequestPayment: { orderId: 'o-1001', amount: 3998, currency: 'EUR' },
  ReconcilePayment: { orderId: 'o-1001' },
  ProviderWebhook: {
    id: 'evt_03ab48d32e730e9f',
    type: 'payment.captured',
    createdAt: '2024-11-23T16:00:02.114Z',
    data: { idempotencyKey: 'order-o-1001-payment', orderId: 'o-1001', chargeId: 'ch_e68dadb5f6a7d27b', amount: 3998, currency: 'EUR' },
  },
  PaymentCaptured: { orderId: 'o-1001', amount: 3998, currency: 'EUR', providerRef: 'ch_e68dadb5f6a7d27b' },
  PaymentFailed: { orderId: 'o-1001', reason: 'card_declined' },
  PaymentRefunded: { orderId: 'o-1001', amount: 3998, currency: 'EUR', providerRef: 're_5c1f0a9e44d2b7aa' },
};
