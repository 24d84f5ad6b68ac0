import { EntitySchema } from 'typeorm';

export type PaymentStatus = 'pending' | 'captured' | 'failed' | 'refunded';

/** Entities for the read model (typeorm repositories); the hot path writes with plain SQL. */
export interface PaymentEntity {
  orderId: string;
  idempotencyKey: string;
  amount: string;
  currency: string;
  status: PaymentStatus;
  providerRef: string | null;
  failureReason: string | null;
  refundRef: string | null;
  source: 'request' | 'webhook' | 'refund';
  version: number;
  /** W3C traceparent of the message that created the row: the provider's webhook continues its trace. */
  traceParent: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookEventEntity {
  eventId: string;
  type: string;
  orderId: string;
  messageId: string;
  receivedAt: Date;
}

export const Payment = new EntitySchema<PaymentEntity>({
  name: 'Payment',
  tableName: 'payment',
  columns: {
    orderId: { type: 'text', primary: true, name: 'order_id' },
    idempotencyKey: { type: 'text', name: 'idempotency_key', unique: true },
    amount: { type: 'bigint' },
    currency: { type: 'text' },
    status: { type: 'text' },
    providerRef: { type: 'text', name: 'provider_ref', nullable: true },
    failureReason: { type: 'text', name: 'failure_reason', nullable: true },
    refundRef: { type: 'text', name: 'refund_ref', nullable: true },
    source: { type: 'text' },
    version: { type: 'integer' },
    traceParent: { type: 'text', name: 'trace_parent', nullable: true },
    createdAt: { type: 'timestamptz', name: 'created_at' },
    updatedAt: { type: 'timestamptz', name: 'updated_at' },
  },
});

export const WebhookEvent = new EntitySchema<WebhookEventEntity>({
  name: 'WebhookEvent',
  tableName: 'webhook_event',
  columns: {
    eventId: { type: 'text', primary: true, name: 'event_id' },
    type: { type: 'text' },
    orderId: { type: 'text', name: 'order_id' },
    messageId: { type: 'text', name: 'message_id' },
    receivedAt: { type: 'timestamptz', name: 'received_at' },
  },
});

export const entities = [Payment, WebhookEvent];
