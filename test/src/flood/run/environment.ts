import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import pino from 'pino';
import { AmqpConnection, declareTopology, deleteNamespaceKeys, deleteTopology, WORKER_KINDS, type Logger, type TopologyOptions } from '@stockflow/shared';
import { adminQuery, createTemplate, dropDatabase, withDatabase } from '../../support/template-db';
import type { FloodOptions } from '../options';

export const DELIVERY_LIMIT = 20;

/**
 * Where one flood runs: its tag, namespace, database, run directory and the connections the
 * flood itself uses (named stockflow-flood:…, so no fault ever hits them). Owned runs create
 * and remove all of it; attached runs borrow the deployment's namespace and database and
 * remove only what the flood added (its tap queue); the run's rows stay, scoped by the tag.
 */
export class RunEnvironment {
  private constructor(
    readonly tag: string,
    readonly namespace: string,
    readonly databaseUrl: string,
    /** Set when the flood created the database (and drops it at cleanup). */
    readonly ownDatabase: string | undefined,
    readonly topology: TopologyOptions,
    readonly runDir: string,
    readonly pool: Pool,
    readonly amqp: AmqpConnection,
    readonly log: Logger,
    private readonly opts: FloodOptions,
  ) {}

  static async prepare(opts: FloodOptions): Promise<RunEnvironment> {
    const tag = randomBytes(3).toString('hex');
    const namespace = opts.namespace ?? (opts.attach ? process.env.STOCKFLOW_NAMESPACE || 'stockflow' : `fl-${tag}`);
    const runDir = opts.runDir ?? join(tmpdir(), 'stockflow-flood', tag);
    mkdirSync(runDir, { recursive: true });
    const log = pino({ level: 'info' }, pino.destination({ dest: join(runDir, 'flood.log'), sync: false, mkdir: true }));
    const topology: TopologyOptions = { namespace, partitions: opts.partitions, deliveryLimit: DELIVERY_LIMIT };

    let databaseUrl = opts.databaseUrl;
    let ownDatabase: string | undefined;
    if (!opts.attach) {
      // sf_<namespace>: the name the test suite's stale-namespace sweep also removes after a killed run.
      ownDatabase = `sf_${namespace.replace(/-/g, '_')}`;
      const template = process.env.STOCKFLOW_TEST_TEMPLATE;
      // Under jest a migrated template exists: cloning it takes ~100 ms instead of migrating.
      if (template) await adminQuery(opts.databaseUrl, `CREATE DATABASE "${ownDatabase}" TEMPLATE "${template}"`);
      else await createTemplate(opts.databaseUrl, ownDatabase);
      databaseUrl = withDatabase(opts.databaseUrl, ownDatabase);
    }
    const pool = new Pool({ connectionString: databaseUrl, max: 4, application_name: `stockflow-flood:${tag}` });
    pool.on('error', () => undefined);
    const amqp = new AmqpConnection({ url: opts.amqpUrl, name: `stockflow-flood:${tag}:control`, heartbeatS: 10, retryBaseMs: 100, retryMaxMs: 2000, log });
    await amqp.start();
    // Owned: declared before any worker runs, so the tap is bound before the first event.
    if (!opts.attach) await declareTopology(() => amqp.createChannel(), topology, WORKER_KINDS);
    return new RunEnvironment(tag, namespace, databaseUrl, ownDatabase, topology, runDir, pool, amqp, log, opts);
  }

  /** Environment of a worker process of this run. */
  workerEnv(instanceId: string, extra: Record<string, string>): Record<string, string> {
    const base: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: this.databaseUrl,
      AMQP_URL: this.opts.amqpUrl,
      REDIS_URL: this.opts.redisUrl,
      STOCKFLOW_NAMESPACE: this.namespace,
      PARTITIONS: String(this.topology.partitions),
      DELIVERY_LIMIT: String(DELIVERY_LIMIT),
      INSTANCE_ID: instanceId,
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      // 16 partitions per worker: more sessions keep more partitions committing while others wait.
      PG_POOL_SIZE: '8',
      // A stopped or cut-off worker loses its partitions after about twice this.
      AMQP_HEARTBEAT_S: '3',
      RETRY_MAX_MS: '2000',
      SHUTDOWN_GRACE_MS: '8000',
      OUTBOX_POLL_MS: '200',
    };
    return { ...base, ...extra, ...this.opts.workerEnv };
  }

  /** keepState: database, queues and Redis keys stay (--keep); keepLogs: the run directory stays. */
  async cleanup(opts: { keepState: boolean; keepLogs: boolean }): Promise<void> {
    const keep = opts.keepState;
    if (!keep && !this.opts.attach) {
      await deleteTopology(() => this.amqp.createChannel(), this.topology).catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'topology cleanup failed'));
      await deleteNamespaceKeys(this.opts.redisUrl, this.namespace).catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'redis cleanup failed'));
    }
    await this.amqp.close();
    await this.pool.end().catch(() => undefined);
    if (!keep && this.ownDatabase) await dropDatabase(this.opts.databaseUrl, this.ownDatabase);
    this.log.flush?.();
    if (!opts.keepLogs && !this.opts.runDir) rmSync(this.runDir, { recursive: true, force: true });
  }
}
