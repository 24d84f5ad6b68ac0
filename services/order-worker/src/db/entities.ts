import { EntitySchema } from 'typeorm';
import type { orders } from '@stockflow/shared';

type OrderLine = orders.OrderLine;
type OrderStatus = orders.OrderStatus;

/** Entities for the read model (typeorm repositories); the hot path writes with plain SQL. */
export interface OrderEntity {
  id: string;
  customerId: string | null;
  currency: string | null;
  amount: string;
  lines: OrderLine[];
  status: OrderStatus;
  reason: string | null;
  reservationTtlMs: number | null;
  stockStatus: string;
  paymentStatus: string;
  capturedAmount: string | null;
  capturedCurrency: string | null;
  providerRef: string | null;
  refundStatus: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface OrderTransitionEntity {
  id: string;
  orderId: string;
  fromStatus: OrderStatus | null;
  toStatus: OrderStatus;
  reason: string | null;
  messageId: string;
  messageType: string;
  at: Date;
}

export const Order = new EntitySchema<OrderEntity>({
  name: 'Order',
  tableName: 'orders',
  columns: {
    id: { type: 'text', primary: true },
    customerId: { type: 'text', name: 'customer_id', nullable: true },
    currency: { type: 'text', nullable: true },
    amount: { type: 'bigint' },
    lines: { type: 'jsonb' },
    status: { type: 'text' },
    reason: { type: 'text', nullable: true },
    reservationTtlMs: { type: 'integer', name: 'reservation_ttl_ms', nullable: true },
    stockStatus: { type: 'text', name: 'stock_status' },
    paymentStatus: { type: 'text', name: 'payment_status' },
    capturedAmount: { type: 'bigint', name: 'captured_amount', nullable: true },
    capturedCurrency: { type: 'text', name: 'captured_currency', nullable: true },
    providerRef: { type: 'text', name: 'provider_ref', nullable: true },
    refundStatus: { type: 'text', name: 'refund_status' },
    version: { type: 'integer' },
    createdAt: { type: 'timestamptz', name: 'created_at' },
    updatedAt: { type: 'timestamptz', name: 'updated_at' },
  },
});

export const OrderTransition = new EntitySchema<OrderTransitionEntity>({
  name: 'OrderTransition',
  tableName: 'order_transition',
  columns: {
    id: { type: 'bigint', primary: true, generated: 'increment' },
    orderId: { type: 'text', name: 'order_id' },
    fromStatus: { type: 'text', name: 'from_status', nullable: true },
    toStatus: { type: 'text', name: 'to_status' },
    reason: { type: 'text', nullable: true },
    messageId: { type: 'text', name: 'message_id' },
    messageType: { type: 'text', name: 'message_type' },
    at: { type: 'timestamptz' },
  },
});

export const entities = [Order, OrderTransition];
