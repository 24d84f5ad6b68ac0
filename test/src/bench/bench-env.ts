import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { AmqpConnection, deleteNamespaceKeys, deleteTopology, Publisher, type Logger, type TopologyOptions } from '@stockflow/shared';
import { adminQuery, createTemplate, dropDatabase, withDatabase } from '../support/template-db';

export interface BenchEnv {
  id: string;
  namespace: string;
  database: string;
  databaseUrl: string;
  serverUrl: string;
  amqpUrl: string;
  redisUrl: string;
  topology: TopologyOptions;
  log: Logger;
  publisher: Publisher;
  cleanup(): Promise<void>;
}

/** A database (all services migrated) and a namespace of its own, like a test env. */
export async function createBenchEnv(partitions: number): Promise<BenchEnv> {
  const id = randomBytes(3).toString('hex');
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const namespace = `bench-${id}`;
  const database = `sf_bench_${id}`;
  await createTemplate(serverUrl, database);
  const log = pino({ level: 'warn' });
  const topology = { namespace, partitions, deliveryLimit: 20 };
  const publisher = await Publisher.connect({ amqpUrl, namespace, partitions, log, name: `${namespace}-publisher` });
  return {
    id,
    namespace,
    database,
    databaseUrl: withDatabase(serverUrl, database),
    serverUrl,
    amqpUrl,
    redisUrl,
    topology,
    log,
    publisher,
    async cleanup() {
      await publisher.close().catch(() => undefined);
      const conn = new AmqpConnection({ url: amqpUrl, name: `${namespace}-cleanup`, heartbeatS: 10, retryBaseMs: 50, retryMaxMs: 1000, log });
      await conn.start();
      await deleteTopology(() => conn.createChannel(), topology).catch(() => undefined);
      await conn.close();
      await deleteNamespaceKeys(redisUrl, namespace).catch(() => undefined);
      await dropDatabase(serverUrl, database);
      await adminQuery(serverUrl, 'SELECT 1');
    },
  };
}
