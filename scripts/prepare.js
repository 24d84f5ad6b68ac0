// Second half of the bootstrap (needs the compiled build): creates the database when missing,
// applies every service's migrations and declares the broker topology. Safe to run again:
// CREATE only when absent, migrations only when pending, declarations are idempotent.
'use strict';
const { Client } = require('pg');
const {
  AmqpConnection, checkPartitionCount, commonSettings, createLogger, Database, declareTopology, loadConfig, validateCommon, WORKER_KINDS,
} = require('@stockflow/shared');
const { inventoryMigrations, INVENTORY_SCHEMA } = require('@stockflow/inventory-worker');
const { orderMigrations, ORDERS_SCHEMA } = require('@stockflow/order-worker');
const { paymentMigrations, PAYMENTS_SCHEMA } = require('@stockflow/payment-worker');

const SCHEMAS = [
  [INVENTORY_SCHEMA, inventoryMigrations],
  [ORDERS_SCHEMA, orderMigrations],
  [PAYMENTS_SCHEMA, paymentMigrations],
];

function say(msg) {
  process.stderr.write(`\x1b[36m[bootstrap]\x1b[0m ${msg}\n`);
}

async function ensureDatabase(url) {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rows.length === 0) {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      say(`created database ${name}`);
    }
  } finally {
    await client.end();
  }
}

async function main() {
  const config = loadConfig(commonSettings);
  validateCommon(config);
  const log = createLogger({ service: 'bootstrap', instanceId: config.instanceId, level: 'warn' });
  await ensureDatabase(config.databaseUrl);
  for (const [schema, migrations] of SCHEMAS) {
    const db = await Database.open({ url: config.databaseUrl, schema, migrations, entities: [], poolSize: 1, applicationName: 'stockflow:bootstrap', log });
    try {
      const ran = await db.migrate();
      if (ran.length > 0) say(`${schema}: applied ${ran.join(', ')}`);
    } finally {
      await db.close();
    }
  }
  // Records PARTITIONS on the first bootstrap; refuses to declare queues for another count.
  const meta = new Client({ connectionString: config.databaseUrl });
  await meta.connect();
  try {
    await checkPartitionCount(async (sql, params) => (await meta.query(sql, params)).rows, config.namespace, config.partitions);
  } finally {
    await meta.end();
  }
  const conn = new AmqpConnection({ url: config.amqpUrl, name: 'stockflow:bootstrap', heartbeatS: 10, retryBaseMs: 200, retryMaxMs: 2000, log });
  await conn.start();
  try {
    const topology = { namespace: config.namespace, partitions: config.partitions, deliveryLimit: config.deliveryLimit };
    await declareTopology(() => conn.createChannel(), topology, WORKER_KINDS);
    say(`ready: database ${new URL(config.databaseUrl).pathname.slice(1)} migrated, ${WORKER_KINDS.length} x ${config.partitions} partition queues declared in namespace '${config.namespace}'`);
  } finally {
    await conn.close();
  }
}

main().catch((err) => {
  say(`failed: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
