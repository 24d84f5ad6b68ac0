import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { IMAGES, LOCAL_DEFAULTS } from '@stockflow/testkit/support/local-services';

/**
 * Where the tests find Postgres, RabbitMQ and Redis:
 *   1. DATABASE_URL / AMQP_URL / REDIS_URL when set;
 *   2. otherwise, when a Docker engine answers, containers started with testcontainers
 *      (pinned images below) for this run;
 *   3. otherwise the local services on their default ports (what `npm run bootstrap` starts).
 */
export { IMAGES, LOCAL_DEFAULTS } from '@stockflow/testkit/support/local-services';

export async function dockerAnswers(): Promise<boolean> {
  try {
    await promisify(execFile)('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 3000 });
    return true;
  } catch {
    return false;
  }
}

export interface StartedServices {
  urls: { DATABASE_URL: string; AMQP_URL: string; REDIS_URL: string };
  source: 'env' | 'testcontainers' | 'local';
  stop(): Promise<void>;
}

export async function resolveServices(env: NodeJS.ProcessEnv = process.env): Promise<StartedServices> {
  const given = ['DATABASE_URL', 'AMQP_URL', 'REDIS_URL'].filter((k) => env[k]);
  if (given.length > 0) {
    return {
      urls: {
        DATABASE_URL: env.DATABASE_URL ?? LOCAL_DEFAULTS.DATABASE_URL,
        AMQP_URL: env.AMQP_URL ?? LOCAL_DEFAULTS.AMQP_URL,
        REDIS_URL: env.REDIS_URL ?? LOCAL_DEFAULTS.REDIS_URL,
      },
      source: 'env',
      stop: async () => undefined,
    };
  }
  if (await dockerAnswers()) return startContainers();
  return { urls: { ...LOCAL_DEFAULTS }, source: 'local', stop: async () => undefined };
}

async function startContainers(): Promise<StartedServices> {
  const [{ PostgreSqlContainer }, { RabbitMQContainer }, { RedisContainer }] = await Promise.all([
    import('@testcontainers/postgresql'),
    import('@testcontainers/rabbitmq'),
    import('@testcontainers/redis'),
  ]);
  const [pg, mq, redis] = await Promise.all([
    new PostgreSqlContainer(IMAGES.postgres).withUsername('postgres').withPassword('postgres').withDatabase('postgres').withCommand(['postgres', '-c', 'max_connections=500']).start(),
    new RabbitMQContainer(IMAGES.rabbitmq).start(),
    new RedisContainer(IMAGES.redis).start(),
  ]);
  return {
    urls: { DATABASE_URL: pg.getConnectionUri(), AMQP_URL: mq.getAmqpUrl(), REDIS_URL: redis.getConnectionUrl() },
    source: 'testcontainers',
    stop: async () => {
      await Promise.all([pg.stop(), mq.stop(), redis.stop()]);
    },
  };
}
