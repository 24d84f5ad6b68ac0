import { configOrExit, consumptionPauseMigration, outboxShardsMigration, createLogger, dedupIdentityMigration, inboxSequenceIndexMigration, inboxSequenceSessionMigration, relayTablesMigration, runWorker, Worker, type ServiceDefinition, type Tx, type WorkerOptions, WORKER_NAMES } from '@stockflow/shared';
import { loadOrderConfig, type OrderConfig } from './config';
import { OrdersSchema1732100000000 } from './db/migrations/1732100000000-orders-schema';
import { OrdersCapturedCurrency1733000000000 } from './db/migrations/1733000000000-orders-captured-currency';
import { orderHandlers } from './handlers';
import { OrderUnitOfWork } from './unit-of-work';

export const ORDERS_SCHEMA = WORKER_NAMES.orders.schema;
export const orderMigrations = [OrdersSchema1732100000000, inboxSequenceIndexMigration('orders', 'Orders', 1732100900000), OrdersCapturedCurrency1733000000000, relayTablesMigration('orders', 'Orders', 1733100000000), inboxSequenceSessionMigration('orders', 'Orders', 1733200000000), dedupIdentityMigration('orders', 'Orders', 1733300000000), consumptionPauseMigration('orders', 'Orders', 1733500000000), outboxShardsMigration('orders', 'Orders', 1733600000000)];

/** Builds the order worker: the order saga (reserve → pay → commit) and its interleavings. */
export function createOrderWorker(config: OrderConfig, opts: WorkerOptions = {}): Worker<OrderUnitOfWork> {
  const def: ServiceDefinition<OrderUnitOfWork> = {
    kind: 'orders',
    name: WORKER_NAMES.orders.service,
    schema: ORDERS_SCHEMA,
    migrations: orderMigrations,
    // Plain SQL only: nothing queries these tables through TypeORM repositories.
    entities: [],
    handlers: orderHandlers({ defaultTtlMs: config.reservationTtlMs }),
    createUnitOfWork: (tx: Tx) => new OrderUnitOfWork(tx),
  };
  return new Worker(def, config, opts);
}

if (require.main === module) {
  const config = configOrExit('order-worker', () => loadOrderConfig());
  const log = createLogger({ service: 'order-worker', instanceId: config.instanceId, level: config.logLevel });
  void runWorker(createOrderWorker(config, { log }), log, config.shutdownGraceMs);
}
