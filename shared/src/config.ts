import { hostname } from 'node:os';
import { redactUrl } from '@stockflow/client/internal';
import { ConfigError } from './errors';
import { brokerUrls } from './amqp/broker-urls-setting';

/**
 * Every configuration value comes from the environment, has a named default and is validated
 * at start. A setting carries its own documentation so the README table and `--help` output
 * are generated from the same place the code reads (a test keeps the README in step).
 */
export interface Setting<T> {
  readonly env: string;
  readonly default: T;
  readonly doc: string;
  parse(raw: string): T;
  /** Shown in docs instead of the default when the default is computed at run time. */
  readonly defaultLabel?: string;
  /** How the raw value may appear in an error message: never for a secret, without its password for a URL. */
  readonly echo?: (raw: string) => string;
  /**
   * A secret whose default is public (in the source, the docs, the compose file): used only
   * with STOCKFLOW_ENV=development, and refused as an explicit value anywhere else.
   */
  readonly developmentDefault?: T;
}

/** STOCKFLOW_ENV: only `development` accepts the public development defaults of secrets. */
export const ENVIRONMENT_VARIABLE = 'STOCKFLOW_ENV';
export const ENVIRONMENTS = ['production', 'development'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export function isDevelopment(env: NodeJS.ProcessEnv): boolean {
  return env[ENVIRONMENT_VARIABLE]?.trim() === 'development';
}

type Parsed<S> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export function loadConfig<S extends Record<string, Setting<unknown>>>(
  spec: S,
  env: NodeJS.ProcessEnv = process.env,
): Parsed<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  const development = isDevelopment(env);
  for (const [key, setting] of Object.entries(spec)) {
    const raw = env[setting.env];
    const publicDefault = setting.developmentDefault;
    if (raw === undefined || raw === '') {
      if (publicDefault === undefined || development) out[key] = publicDefault ?? setting.default;
      else problems.push(`${setting.env} is required (its default is public and only for ${ENVIRONMENT_VARIABLE}=development)`);
      continue;
    }
    try {
      const value = setting.parse(raw.trim());
      if (publicDefault !== undefined && value === publicDefault && !development) {
        problems.push(`${setting.env} is the public development default; set a secret of your own (or ${ENVIRONMENT_VARIABLE}=development)`);
        continue;
      }
      out[key] = value;
    } catch (err) {
      const shown = setting.echo ? setting.echo(raw) : JSON.stringify(raw);
      problems.push(`${setting.env}${shown ? `=${shown}` : ''}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as Parsed<S>;
}

export function integer(env: string, def: number, doc: string, range: { min: number; max: number }): Setting<number> {
  return {
    env,
    default: def,
    doc,
    parse(raw) {
      if (!/^-?\d+$/.test(raw)) throw new Error('must be an integer');
      const n = Number(raw);
      if (n < range.min || n > range.max) throw new Error(`must be between ${range.min} and ${range.max}`);
      return n;
    },
  };
}

export function text(env: string, def: string, doc: string, pattern?: RegExp, defaultLabel?: string): Setting<string> {
  return {
    env,
    default: def,
    doc,
    defaultLabel,
    parse(raw) {
      if (pattern && !pattern.test(raw)) throw new Error(`must match ${String(pattern)}`);
      return raw;
    },
  };
}

/**
 * A shared secret (HMAC keys, tokens). Its development default is public, so it is used only
 * with STOCKFLOW_ENV=development; the value never appears in an error message.
 */
export function secret(env: string, developmentDefault: string, doc: string, pattern: RegExp, rule: string): Setting<string> {
  return {
    env,
    default: '',
    developmentDefault,
    defaultLabel: `(none; development: ${developmentDefault})`,
    doc,
    echo: () => '',
    parse(raw) {
      if (!pattern.test(raw)) throw new Error(rule);
      return raw;
    },
  };
}

/** A URL as an error message may show it: without the password of its user part. */
function echoUrl(raw: string): string {
  return JSON.stringify(redactUrl(raw));
}

export function url(env: string, def: string, doc: string, protocols: string[]): Setting<string> {
  return {
    env,
    default: def,
    doc,
    echo: echoUrl,
    parse(raw) {
      let parsed: URL;
      try {
        parsed = new URL(raw);
      } catch {
        throw new Error('must be a URL');
      }
      if (!protocols.includes(parsed.protocol)) throw new Error(`protocol must be one of ${protocols.join(', ')}`);
      return raw;
    },
  };
}

export function flag(env: string, def: boolean, doc: string): Setting<boolean> {
  return {
    env,
    default: def,
    doc,
    parse(raw) {
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new Error('must be true or false');
    },
  };
}

export function oneOf<T extends string>(env: string, def: T, doc: string, values: readonly T[]): Setting<T> {
  return {
    env,
    default: def,
    doc,
    parse(raw) {
      if (!(values as readonly string[]).includes(raw)) throw new Error(`must be one of ${values.join(', ')}`);
      return raw as T;
    },
  };
}

export function list<T extends string>(env: string, def: readonly T[], doc: string, values: readonly T[]): Setting<T[]> {
  return {
    env,
    default: [...def],
    doc,
    parse(raw) {
      const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
      for (const item of items) {
        if (!(values as readonly string[]).includes(item)) throw new Error(`'${item}' is not one of ${values.join(', ')}`);
      }
      return items as T[];
    },
  };
}

/** The topology option of QUORUM_GROUP_SIZE. */
export function quorumGroupSizeOf(setting: 'broker-default' | '1' | '3'): 1 | 3 | undefined {
  return setting === 'broker-default' ? undefined : setting === '1' ? 1 : 3;
}

/** What STOCKFLOW_ALLOW_SABOTAGE must say before any TEST ONLY setting is honoured. */
export const SABOTAGE_ALLOWED = 'i-know-this-breaks-things';

const SECOND = 1000;
const DAY = 86_400_000;

/** Settings every worker reads. Service-specific ones live beside each service's main.ts. */
export const commonSettings = {
  environment: oneOf(ENVIRONMENT_VARIABLE, 'production', 'production, or development: only development accepts the public development defaults of secrets (WEBHOOK_SECRET); `npm start` and the compose file run as development', ENVIRONMENTS),
  databaseUrl: url('DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/stockflow', 'Postgres connection URL (each service uses its own schema in this database)', ['postgres:', 'postgresql:']),
  amqpUrl: brokerUrls('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672', 'RabbitMQ URL; for a cluster, its nodes as full URLs separated by commas (amqp://u:p@mq-1:5672,amqp://u:p@mq-2:5672): a process connects to one (instances start at different ones) and on connection loss moves on to the next; tools that need the management API use the first one\'s host unless MANAGEMENT_URL says otherwise'),
  redisUrl: url('REDIS_URL', 'redis://127.0.0.1:6379', 'Redis URL (schedules, leases, duplicate pre-filter; never the source of truth)', ['redis:', 'rediss:']),
  namespace: text('STOCKFLOW_NAMESPACE', 'stockflow', 'Prefix of every exchange, queue and Redis key; lets several deployments or test runs share one broker', /^[a-z][a-z0-9-]{0,30}$/),
  partitions: integer('PARTITIONS', 16, 'Partition queues per worker kind; fixed per deployment, change it only with `npm run ops -- repartition`', { min: 1, max: 256 }),
  instanceId: text('INSTANCE_ID', `${hostname()}-${process.pid}`, 'Name of this worker instance in leases, logs and connection names', /^[A-Za-z0-9._-]{1,64}$/, '<hostname>-<pid>'),
  logLevel: text('LOG_LEVEL', 'info', 'pino log level', /^(fatal|error|warn|info|debug|trace|silent)$/),
  httpPort: integer('HTTP_PORT', 8080, 'Port of /livez, /readyz and /metrics (each worker kind has its own default; 0 = any free port, -1 = disabled)', { min: -1, max: 65535 }),
  prefetch: integer('PREFETCH', 100, 'Unacked deliveries per partition consumer (lower it to bound a worker\'s memory with large messages; raise it when the broker is far away)', { min: 1, max: 10_000 }),
  batchSize: integer('BATCH_SIZE', 50, 'Deliveries of one partition applied together, in order (1 = one at a time; with TX_CONCURRENCY 0 that is one transaction per message)', { min: 1, max: 1000 }),
  batchWaitMs: integer('BATCH_WAIT_MS', 0, 'How long a partition waits for a batch to fill before applying what it has (raise it to trade latency for fewer, larger transactions when Postgres is the bottleneck)', { min: 0, max: 1000 }),
  txConcurrency: integer('TX_CONCURRENCY', 2, 'Transactions a worker process runs at once; the batches of other partitions that become ready meanwhile wait and go together in the next one (group commit), so under load transactions grow instead of multiplying (0 = no limit: every batch its own transaction, all at once)', { min: 0, max: 1000 }),
  sequenceGapWaitMs: integer('SEQUENCE_GAP_WAIT_MS', 10 * SECOND, 'How long a message waits for the previous sequence number of its key (held back after a redelivery reordered them) before it is applied anyway; 0 = apply in arrival order', { min: 0, max: 600_000 }),
  deliveryLimit: integer('DELIVERY_LIMIT', 20, 'x-delivery-limit of partition queues: redeliveries before RabbitMQ dead-letters a message (crash loops end here)', { min: 1, max: 10_000 }),
  quorumGroupSize: oneOf('QUORUM_GROUP_SIZE', 'broker-default', 'Members a quorum queue gets when this process (a worker, the gateway, the ops CLI) creates it: 3 on a 3-node RabbitMQ cluster (each queue keeps serving with one node down), 1 on a single node; broker-default leaves it to the broker (3.10: up to 3). Queues that exist keep theirs', ['broker-default', '1', '3'] as const),
  maxMessageBytes: integer('MAX_MESSAGE_BYTES', 256 * 1024, 'Bodies larger than this are dead-lettered as oversized', { min: 1024, max: 64 * 1024 * 1024 }),
  pgPoolSize: integer('PG_POOL_SIZE', 10, 'Postgres connections per worker process (plus one for the outbox relay)', { min: 1, max: 200 }),
  amqpHeartbeatS: integer('AMQP_HEARTBEAT_S', 5, 'AMQP heartbeat; a paused or cut-off worker loses its deliveries after about twice this', { min: 1, max: 600 }),
  retryBaseMs: integer('RETRY_BASE_MS', 50, 'First backoff of a transient failure (doubles up to RETRY_MAX_MS, with jitter)', { min: 1, max: 60_000 }),
  retryMaxMs: integer('RETRY_MAX_MS', 5 * SECOND, 'Longest backoff between retries of a transient failure or reconnects', { min: 1, max: 600_000 }),
  outboxPollMs: integer('OUTBOX_POLL_MS', 500, 'Outbox relay polling interval when no NOTIFY arrives; also how old a row must be before the safety-net read takes it from the table instead of waiting for its hand-off (while the relay is behind on its hand-offs, only rows older than its lag plus this: the queued ones are on their way)', { min: 10, max: 60_000 }),
  outboxDeleteDelayMs: integer('OUTBOX_DELETE_DELAY_MS', 50, 'How long the relay keeps rows the broker confirmed before deleting them (less when a relay round of them waits or a read of the table comes first), so one DELETE covers many transactions\' rows (a crash in between publishes them again, as a crash between publish and delete always did; 0 = delete after every round)', { min: 0, max: 10_000 }),
  inboxRetentionMs: integer('INBOX_RETENTION_MS', 7 * DAY, 'Inbox rows older than this are purged (duplicates arriving later would be applied again)', { min: 60 * SECOND, max: 365 * DAY }),
  dedupFastPath: flag('DEDUP_FAST_PATH', true, 'Ack duplicates seen in Redis without a Postgres round trip (the inbox stays the truth)'),
  ownership: oneOf('OWNERSHIP', 'leases', 'How instances of one worker kind share partitions: leases (Redis heartbeat leases, partitions spread evenly over live instances) or all (every instance subscribes to every partition; single active consumer makes one of them do all the work)', ['leases', 'all'] as const),
  leaseTtlMs: integer('LEASE_TTL_MS', 5 * SECOND, 'Partition-ownership and outbox-relay leases: an instance that misses heartbeats this long loses its partitions, and its relay the right to publish (another instance\'s relay takes over)', { min: 500, max: 600_000 }),
  heartbeatMs: integer('HEARTBEAT_MS', 1 * SECOND, 'How often an instance renews its leases and re-evaluates ownership', { min: 50, max: 60_000 }),
  sabotage: list('STOCKFLOW_SABOTAGE', [], 'TEST ONLY: guarantees to break on purpose (no-inbox, no-locks, no-fingerprint, trust-webhooks, untrimmed-dead-letters, ignore-pauses) so tests can prove they are needed', ['no-inbox', 'no-locks', 'no-fingerprint', 'trust-webhooks', 'untrimmed-dead-letters', 'ignore-pauses'] as const),
  exitAfterCommit: text('STOCKFLOW_TEST_EXIT_AFTER_COMMIT', '', 'TEST ONLY: SIGKILL this process right after committing a message of this type, before the ack (needs STOCKFLOW_ALLOW_SABOTAGE)'),
  allowSabotage: text('STOCKFLOW_ALLOW_SABOTAGE', '', 'Must be i-know-this-breaks-things for STOCKFLOW_SABOTAGE to be accepted'),
  shutdownGraceMs: integer('SHUTDOWN_GRACE_MS', 15 * SECOND, 'SIGTERM: time to finish in-flight work before forcing exit', { min: 0, max: 600_000 }),
};

export type CommonConfig = Parsed<typeof commonSettings>;

/** QUORUM_GROUP_SIZE of an environment as the topology option: for tools that declare queues beside the workers they start. */
export function quorumGroupSizeIn(env: NodeJS.ProcessEnv): 1 | 3 | undefined {
  return quorumGroupSizeOf(loadConfig({ quorumGroupSize: commonSettings.quorumGroupSize }, env).quorumGroupSize);
}

/** Cross-field checks loadConfig cannot do per variable. */
export function validateCommon(config: CommonConfig): void {
  const problems: string[] = [];
  if (config.exitAfterCommit && config.allowSabotage !== SABOTAGE_ALLOWED) {
    problems.push('STOCKFLOW_TEST_EXIT_AFTER_COMMIT needs STOCKFLOW_ALLOW_SABOTAGE=i-know-this-breaks-things (test only)');
  }
  if (config.sabotage.length > 0 && config.allowSabotage !== SABOTAGE_ALLOWED) {
    problems.push(`STOCKFLOW_SABOTAGE=${config.sabotage.join(',')} needs STOCKFLOW_ALLOW_SABOTAGE=i-know-this-breaks-things (test only)`);
  }
  if (config.retryBaseMs > config.retryMaxMs) problems.push(`RETRY_BASE_MS (${config.retryBaseMs}) must not exceed RETRY_MAX_MS (${config.retryMaxMs})`);
  if (config.heartbeatMs * 2 > config.leaseTtlMs) problems.push(`HEARTBEAT_MS (${config.heartbeatMs}) must be at most half of LEASE_TTL_MS (${config.leaseTtlMs})`);
  if (problems.length > 0) throw new ConfigError(problems);
}
export type SettingsOf<S> = Parsed<S>;
