import { configOrExit, consumptionPauseMigration, outboxShardsMigration, createLogger, dedupIdentityMigration, inboxSequenceIndexMigration, inboxSequenceSessionMigration, relayTablesMigration, runWorker, Worker, type Runtime, type ServiceDefinition, type Tx, type WorkerOptions, WORKER_NAMES } from '@stockflow/shared';
import { loadInventoryConfig, type InventoryConfig } from './config';
import { entities } from './db/entities';
import { InventorySchema1732000000000 } from './db/migrations/1732000000000-inventory-schema';
import { ExpirySchedule } from './expiry/expiry-schedule';
import { ExpiryScheduler } from './expiry/expiry-scheduler';
import { inventoryHandlers } from './handlers';
import { InventoryUnitOfWork } from './unit-of-work';

export const INVENTORY_SCHEMA = WORKER_NAMES.inventory.schema;
export const inventoryMigrations = [InventorySchema1732000000000, inboxSequenceIndexMigration('inventory', 'Inventory', 1732000900000), relayTablesMigration('inventory', 'Inventory', 1733100000000), inboxSequenceSessionMigration('inventory', 'Inventory', 1733200000000), dedupIdentityMigration('inventory', 'Inventory', 1733300000000), consumptionPauseMigration('inventory', 'Inventory', 1733500000000), outboxShardsMigration('inventory', 'Inventory', 1733600000000)];

/** Builds the inventory worker: stock, moves and reservations. */
export function createInventoryWorker(config: InventoryConfig, opts: WorkerOptions = {}): Worker<InventoryUnitOfWork> {
  let runtime: Runtime | undefined;
  const schedule = new ExpirySchedule(() => runtime?.redis);
  const def: ServiceDefinition<InventoryUnitOfWork> = {
    kind: 'inventory',
    name: WORKER_NAMES.inventory.service,
    schema: INVENTORY_SCHEMA,
    migrations: inventoryMigrations,
    entities,
    handlers: inventoryHandlers({ defaultTtlMs: config.reservationTtlMs, schedule }),
    createUnitOfWork: (tx: Tx) => new InventoryUnitOfWork(tx),
    components: (rt) => {
      runtime = rt;
      return [new ExpiryScheduler(rt, schedule, { pollMs: config.expiryPollMs, sweepMs: config.expirySweepMs, sweepGraceMs: config.expirySweepGraceMs })];
    },
  };
  return new Worker(def, config, opts);
}

if (require.main === module) {
  const config = configOrExit('inventory-worker', () => loadInventoryConfig());
  const log = createLogger({ service: 'inventory-worker', instanceId: config.instanceId, level: config.logLevel });
  void runWorker(createInventoryWorker(config, { log }), log, config.shutdownGraceMs);
}
