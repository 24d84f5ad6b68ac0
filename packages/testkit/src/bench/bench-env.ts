import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { Publisher, quorumGroupSizeIn, type Logger, type TopologyOptions } from '@stockflow/shared';
import { deleteNamespace } from '../support/namespace-cleanup';
import type { Teardown } from '../support/teardown';
import { createTemplate, dropDatabase, withDatabase } from '../support/template-db';

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
  /** The queues limits.ts measures the broker on. */
  queues: { limit: string; paced: string };
  publisher: Publisher;
}

/**
 * A database (all services migrated) and a namespace of its own, like a test env. Each
 * registers its removal with `teardown` as it is created, so a run stopped anywhere (a signal,
 * an exception) removes whatever exists by then: the database, the namespace's queues (the
 * measuring ones too), exchanges and Redis keys.
 */
export async function createBenchEnv(partitions: number, teardown: Teardown): Promise<BenchEnv> {
  const id = randomBytes(3).toString('hex');
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const namespace = `bench-${id}`;
  const database = `sf_bench_${id}`;
  const queues = { limit: `${namespace}.limit`, paced: `${namespace}.paced` };
  // QUORUM_GROUP_SIZE reaches the workers through the environment; the bench's own queues follow it.
  const topology: TopologyOptions = { namespace, partitions, deliveryLimit: 20, quorumGroupSize: quorumGroupSizeIn(process.env) };
  await teardown.create(
    `database ${database}`,
    () => createTemplate(serverUrl, database).catch(async (err: unknown) => {
      await dropDatabase(serverUrl, database).catch(() => undefined);
      throw err;
    }),
    () => dropDatabase(serverUrl, database),
  );
  // Before anything is declared; undone after the workers (registered later) are stopped.
  teardown.defer(`namespace ${namespace}`, () => deleteNamespace({ amqpUrl, redisUrl, topology, queues: Object.values(queues) }));
  const log = pino({ level: 'warn' });
  const publisher = await teardown.create('publisher', () => Publisher.connect({ url: amqpUrl, namespace, partitions, autoSequence: false, log, name: `${namespace}-publisher` }), (p) => p.close());
  return { id, namespace, database, databaseUrl: withDatabase(serverUrl, database), serverUrl, amqpUrl, redisUrl, topology, queues, log, publisher };
}
