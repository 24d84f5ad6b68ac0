import { EntitySchema } from 'typeorm';

/** Entities for the read model (typeorm repositories); the hot path writes with plain SQL. */
export interface StockEntity {
  productId: string;
  warehouseId: string;
  onHand: number;
  reserved: number;
  version: number;
  updatedAt: Date;
}

export interface ReservationEntity {
  id: string;
  orderId: string | null;
  lines: { productId: string; warehouseId: string; quantity: number }[];
  status: 'held' | 'released' | 'committed' | 'expired';
  expiresAt: Date;
  createdAt: Date;
  closedAt: Date | null;
}

export interface LedgerEntity {
  id: string;
  productId: string;
  warehouseId: string;
  deltaOnHand: number;
  deltaReserved: number;
  kind: string;
  messageId: string;
  reservationId: string | null;
  createdAt: Date;
}

export interface WarehouseEntity {
  id: string;
  name: string;
  createdAt: Date;
}

export const Stock = new EntitySchema<StockEntity>({
  name: 'Stock',
  tableName: 'stock',
  columns: {
    productId: { type: 'text', primary: true, name: 'product_id' },
    warehouseId: { type: 'text', primary: true, name: 'warehouse_id' },
    onHand: { type: 'integer', name: 'on_hand' },
    reserved: { type: 'integer' },
    version: { type: 'integer' },
    updatedAt: { type: 'timestamptz', name: 'updated_at' },
  },
});

export const Reservation = new EntitySchema<ReservationEntity>({
  name: 'Reservation',
  tableName: 'reservation',
  columns: {
    id: { type: 'text', primary: true },
    orderId: { type: 'text', name: 'order_id', nullable: true },
    lines: { type: 'jsonb' },
    status: { type: 'text' },
    expiresAt: { type: 'timestamptz', name: 'expires_at' },
    createdAt: { type: 'timestamptz', name: 'created_at' },
    closedAt: { type: 'timestamptz', name: 'closed_at', nullable: true },
  },
});

export const Ledger = new EntitySchema<LedgerEntity>({
  name: 'Ledger',
  tableName: 'ledger',
  columns: {
    id: { type: 'bigint', primary: true, generated: 'increment' },
    productId: { type: 'text', name: 'product_id' },
    warehouseId: { type: 'text', name: 'warehouse_id' },
    deltaOnHand: { type: 'integer', name: 'delta_on_hand' },
    deltaReserved: { type: 'integer', name: 'delta_reserved' },
    kind: { type: 'text' },
    messageId: { type: 'text', name: 'message_id' },
    reservationId: { type: 'text', name: 'reservation_id', nullable: true },
    createdAt: { type: 'timestamptz', name: 'created_at' },
  },
});

export const Warehouse = new EntitySchema<WarehouseEntity>({
  name: 'Warehouse',
  tableName: 'warehouse',
  columns: {
    id: { type: 'text', primary: true },
    name: { type: 'text' },
    createdAt: { type: 'timestamptz', name: 'created_at' },
  },
});

export const entities = [Stock, Reservation, Ledger, Warehouse];
