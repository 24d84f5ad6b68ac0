import { Pool } from 'pg';
import pino from 'pino';
import { Redis } from 'ioredis';
import {
  AmqpConnection,
  commonSettings,
  ConfirmPublisher,
  loadConfig,
  quorumGroupSizeOf,
  readDeployment,
  redactBrokerUrls,
  text,
  type SettingsOf,
  type DeploymentRecord,
  type TopologyOptions,
} from '@stockflow/shared';
import { ManagementApi, managementUrlOf, ServiceUnreachableError } from './management';

export const opsSettings = {
  databaseUrl: commonSettings.databaseUrl,
  amqpUrl: commonSettings.amqpUrl,
  redisUrl: commonSettings.redisUrl,
  namespace: commonSettings.namespace,
  partitions: commonSettings.partitions,
  deliveryLimit: commonSettings.deliveryLimit,
  quorumGroupSize: commonSettings.quorumGroupSize,
  managementUrl: text('MANAGEMENT_URL', '', 'RabbitMQ management API (default: http://<host of the first AMQP_URL address>:15672 with its credentials)'),
};

/** A URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

const CONNECT_TIMEOUT_MS = 5000;

/**
 * Connections of one ops command, opened on first use and closed at the end. Every failure to
 * reach a service becomes a ServiceUnreachableError naming the service and where it was looked for.
 */
export class OpsContext {
  readonly config: SettingsOf<typeof opsSettings>;
  readonly management: ManagementApi;
  private pool: Pool | undefined;
  private conn: AmqpConnection | undefined;
  private pub: ConfirmPublisher | undefined;
  private redisClient: Redis | undefined;
  private readonly log = pino({ level: 'silent' });

  constructor(env: NodeJS.ProcessEnv) {
    this.config = loadConfig(opsSettings, env);
    this.management = new ManagementApi(managementUrlOf(this.config.amqpUrl, this.config.managementUrl || undefined), this.config.amqpUrl);
  }

  get namespace(): string {
    return this.config.namespace;
  }

  async pg(): Promise<Pool> {
    if (this.pool) return this.pool;
    const pool = new Pool({ connectionString: this.config.databaseUrl, max: 2, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: 'stockflow:ops' });
    pool.on('error', () => undefined);
    try {
      await pool.query('SELECT 1');
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new ServiceUnreachableError('Postgres', redact(this.config.databaseUrl), err);
    }
    this.pool = pool;
    return pool;
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]> {
    return (await (await this.pg()).query(sql, params)).rows as R[];
  }

  async amqp(): Promise<AmqpConnection> {
    if (this.conn) return this.conn;
    const conn = new AmqpConnection({ url: this.config.amqpUrl, name: 'stockflow:ops', heartbeatS: 10, retryBaseMs: 200, retryMaxMs: 1000, connectTimeoutMs: CONNECT_TIMEOUT_MS, log: this.log });
    try {
      await conn.start();
    } catch (err) {
      await conn.close();
      throw new ServiceUnreachableError('RabbitMQ', redactBrokerUrls(this.config.amqpUrl), err);
    }
    this.conn = conn;
    return conn;
  }

  /** Confirmed, mandatory publishing (unroutable is an error, not silence). */
  async publisher(): Promise<ConfirmPublisher> {
    if (this.pub) return this.pub;
    const pub = new ConfirmPublisher(await this.amqp(), this.log, 10_000);
    await pub.start();
    this.pub = pub;
    return pub;
  }

  async redis(): Promise<Redis> {
    if (this.redisClient) return this.redisClient;
    const redis = new Redis(this.config.redisUrl, {
      keyPrefix: `${this.namespace}:`,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: () => null,
    });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new ServiceUnreachableError('Redis', redact(this.config.redisUrl), err);
    }
    this.redisClient = redis;
    return redis;
  }

  /** The recorded partition count (Postgres), else PARTITIONS. */
  async deployment(): Promise<{ partitions: number; record: DeploymentRecord | undefined }> {
    const record = await readDeployment((sql, p) => this.query(sql, p), this.namespace);
    return { partitions: record?.partitions ?? this.config.partitions, record };
  }

  topology(partitions: number): TopologyOptions {
    return { namespace: this.namespace, partitions, deliveryLimit: this.config.deliveryLimit, quorumGroupSize: quorumGroupSizeOf(this.config.quorumGroupSize) };
  }

  async close(): Promise<void> {
    await this.pub?.stop().catch(() => undefined);
    await this.conn?.close().catch(() => undefined);
    this.redisClient?.disconnect();
    await this.pool?.end().catch(() => undefined);
  }
}
