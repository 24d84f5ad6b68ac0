import { createInventoryWorker, loadInventoryConfig } from '@stockflow/inventory-worker';
import { createOrderWorker, loadOrderConfig } from '@stockflow/order-worker';
import { createPaymentWorker, loadPaymentConfig } from '@stockflow/payment-worker';
import type { UnitOfWork, Worker, WorkerOptions } from '@stockflow/shared';
import { sumSamples } from '@stockflow/testkit/support/prometheus';
import type { TestEnv } from './test-env';

/** Starts a real inventory worker in this process, configured for the test env. */
export async function startInventory(env: TestEnv, overrides: Record<string, string | number> = {}, opts: WorkerOptions = {}) {
  const config = loadInventoryConfig(env.env({ INSTANCE_ID: `inv-${Math.random().toString(36).slice(2, 8)}`, ...overrides }));
  const worker = env.track(createInventoryWorker(config, { log: env.log, ...opts }));
  await worker.start();
  return worker;
}

/** Starts a real order worker in this process, configured for the test env. */
export async function startOrders(env: TestEnv, overrides: Record<string, string | number> = {}, opts: WorkerOptions = {}) {
  const config = loadOrderConfig(env.env({ INSTANCE_ID: `ord-${Math.random().toString(36).slice(2, 8)}`, ...overrides }));
  const worker = env.track(createOrderWorker(config, { log: env.log, ...opts }));
  await worker.start();
  return worker;
}

/**
 * Starts a real payment worker in this process. Pass PROVIDER_URL (a simulator's url) and,
 * for webhooks, HTTP_PORT: 0 (the gateway lives on the worker's HTTP server; read the bound
 * port from worker.httpPort).
 */
export async function startPayments(env: TestEnv, overrides: Record<string, string | number> = {}, opts: WorkerOptions = {}) {
  const config = loadPaymentConfig(env.env({ INSTANCE_ID: `pay-${Math.random().toString(36).slice(2, 8)}`, ...overrides }));
  const worker = env.track(createPaymentWorker(config, { log: env.log, ...opts }));
  await worker.start();
  return worker;
}

/** GET on a worker's own HTTP server (/livez, /readyz, /metrics). */
export async function workerGet(worker: Worker<UnitOfWork>, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${worker.httpPort}${path}`);
  return { status: res.status, body: await res.text() };
}

/** Sum of every sample of `name` whose labels include `labels` on the worker's /metrics. */
export async function workerMetric(worker: Worker<UnitOfWork>, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sumSamples((await workerGet(worker, '/metrics')).body, name, labels);
}
