import { configOrExit, consumptionPauseMigration, outboxShardsMigration, createLogger, dedupIdentityMigration, inboxSequenceIndexMigration, inboxSequenceSessionMigration, relayTablesMigration, runWorker, Worker, type ServiceDefinition, type Tx, type WorkerOptions, WORKER_NAMES } from '@stockflow/shared';
import { loadPaymentConfig, type PaymentConfig } from './config';
import { PaymentsSchema1732200000000 } from './db/migrations/1732200000000-payments-schema';
import { PaymentsTraceParent1733400000000 } from './db/migrations/1733400000000-payments-trace-parent';
import { PaymentsPendingIndex1732201000000 } from './db/migrations/1732201000000-payments-pending-index';
import { paymentHandlers } from './handlers';
import { ProviderClient } from './provider/provider-client';
import { PendingSweep } from './pending-sweep';
import { webhookRoute } from './provider/webhook-gateway';
import { PaymentUnitOfWork } from './unit-of-work';

export const PAYMENTS_SCHEMA = WORKER_NAMES.payments.schema;
export const paymentMigrations = [PaymentsSchema1732200000000, inboxSequenceIndexMigration('payments', 'Payments', 1732200900000), PaymentsPendingIndex1732201000000, relayTablesMigration('payments', 'Payments', 1733100000000), inboxSequenceSessionMigration('payments', 'Payments', 1733200000000), dedupIdentityMigration('payments', 'Payments', 1733300000000), PaymentsTraceParent1733400000000, consumptionPauseMigration('payments', 'Payments', 1733500000000), outboxShardsMigration('payments', 'Payments', 1733600000000)];

/** Builds the payment worker: idempotent charges and refunds, signed webhooks and their gateway. */
export function createPaymentWorker(config: PaymentConfig, opts: WorkerOptions = {}): Worker<PaymentUnitOfWork> {
  const provider = new ProviderClient({
    baseUrl: config.providerUrl,
    timeoutMs: config.providerTimeoutMs,
    retryBaseMs: config.providerRetryBaseMs,
    retryMaxMs: config.providerRetryMaxMs,
    maxAttempts: config.providerMaxAttempts,
  });
  const def: ServiceDefinition<PaymentUnitOfWork> = {
    kind: 'payments',
    name: WORKER_NAMES.payments.service,
    schema: PAYMENTS_SCHEMA,
    migrations: paymentMigrations,
    // Plain SQL only: nothing queries these tables through TypeORM repositories.
    entities: [],
    handlers: paymentHandlers({ provider, webhookSecret: config.webhookSecret }),
    createUnitOfWork: (tx: Tx) => new PaymentUnitOfWork(tx),
    httpRoutes: (rt) => [webhookRoute(rt, { secret: config.webhookSecret })],
    components: (rt) => [new PendingSweep(rt, { sweepMs: config.pendingSweepMs, afterMs: config.pendingReconcileAfterMs })],
  };
  return new Worker(def, config, opts);
}

if (require.main === module) {
  const config = configOrExit('payment-worker', () => loadPaymentConfig());
  const log = createLogger({ service: 'payment-worker', instanceId: config.instanceId, level: config.logLevel });
  void runWorker(createPaymentWorker(config, { log }), log, config.shutdownGraceMs);
}
