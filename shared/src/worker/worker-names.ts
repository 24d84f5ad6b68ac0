import type { WorkerKind } from '@stockflow/client/internal';

/**
 * Each worker kind's service name (logs, metrics, connection names) and Postgres schema, in one
 * place: the ops tools find a worker's tables and queues without loading the worker itself.
 */
export const WORKER_NAMES = {
  inventory: { service: 'inventory-worker', schema: 'inventory' },
  orders: { service: 'order-worker', schema: 'orders' },
  payments: { service: 'payment-worker', schema: 'payments' },
} as const satisfies Record<WorkerKind, { service: string; schema: string }>;
