/**
 * The services on this machine's default ports (what `npm run bootstrap` starts), and the pinned
 * images the compose file and the tests' containers use.
 */
export const IMAGES = {
  postgres: 'postgres:15.10-alpine',
  rabbitmq: 'rabbitmq:3.10.25-management-alpine',
  redis: 'redis:7.0.15-alpine',
} as const;

export const LOCAL_DEFAULTS = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
  REDIS_URL: 'redis://127.0.0.1:6379',
} as const;
