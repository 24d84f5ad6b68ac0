import { WORKER_KINDS, WORKER_NAMES, type WorkerKind } from '@stockflow/shared';

/** What the ops CLI must know of every worker: its queues' kind, its name, its schema. */
export interface OpsWorker {
  kind: WorkerKind;
  service: string;
  schema: string;
}

export const OPS_WORKERS: readonly OpsWorker[] = WORKER_KINDS.map((kind) => ({ kind, ...WORKER_NAMES[kind] }));

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
