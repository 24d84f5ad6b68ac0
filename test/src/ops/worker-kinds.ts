import { INVENTORY_SCHEMA } from '@stockflow/inventory-worker';
import { ORDERS_SCHEMA } from '@stockflow/order-worker';
import { PAYMENTS_SCHEMA } from '@stockflow/payment-worker';
import { WORKER_KINDS, type WorkerKind } from '@stockflow/shared';

/** What the ops CLI must know of every worker: its queues' kind, its name, its schema. */
export interface OpsWorker {
  kind: WorkerKind;
  service: string;
  schema: string;
}

export const OPS_WORKERS: readonly OpsWorker[] = [
  { kind: 'inventory', service: 'inventory-worker', schema: INVENTORY_SCHEMA },
  { kind: 'orders', service: 'order-worker', schema: ORDERS_SCHEMA },
  { kind: 'payments', service: 'payment-worker', schema: PAYMENTS_SCHEMA },
];

// Fails the build if a worker kind is added without telling the CLI.
const _every: Record<WorkerKind, true> = { inventory: true, orders: true, payments: true };
void _every;
if (OPS_WORKERS.length !== WORKER_KINDS.length) throw new Error('OPS_WORKERS is missing a worker kind');

/** By kind (`inventory`), service (`inventory-worker`) or schema (`orders`). */
export function workerNamed(name: string): OpsWorker | undefined {
  return OPS_WORKERS.find((w) => w.kind === name || w.service === name || w.schema === name);
}

/** The worker a queue belongs to: `<ns>.<kind>.pNN[.dead]`. */
export function workerOfQueue(namespace: string, queue: string): OpsWorker | undefined {
  const m = new RegExp(`^${namespace.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.([a-z]+)\\.p\\d+(\\.dead)?$`).exec(queue);
  return m ? OPS_WORKERS.find((w) => w.kind === m[1]) : undefined;
}

/** `stockflow:<service>:<instance>` (the workers' connection and application names) → instance. */
export function instanceOfConnection(name: string): string {
  const m = /^stockflow:[a-z-]+:(.+)$/.exec(name);
  return m ? m[1]! : name;
}
