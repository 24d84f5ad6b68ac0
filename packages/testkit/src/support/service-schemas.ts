import type { MigrationInterface } from 'typeorm';
import { inventoryMigrations } from '@stockflow/inventory-worker';
import { orderMigrations } from '@stockflow/order-worker';
import { paymentMigrations } from '@stockflow/payment-worker';

/** Every service's schema and migrations, for the test template database and the bootstrap. */
export const SERVICE_SCHEMAS: { schema: string; migrations: (new () => MigrationInterface)[] }[] = [
  { schema: 'inventory', migrations: inventoryMigrations },
  { schema: 'orders', migrations: orderMigrations },
  { schema: 'payments', migrations: paymentMigrations },
];
