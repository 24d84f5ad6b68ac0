import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import pino from 'pino';
import { AmqpConnection, declareTopology, quorumGroupSizeIn, WORKER_KINDS, type Logger, type QuorumGroupSize, type TopologyOptions } from '@stockflow/shared';
import { deleteNamespace, deleteQueues } from '../../support/namespace-cleanup';
import type { Teardown } from '../../support/teardown';
import { FloodEventTap } from '../history/event-tap';
import { adminQuery, createTemplate, dropDatabase, withDatabase } from '../../support/template-db';
import type { FloodOptions } from '../options';

export const DELIVERY_LIMIT = 20;
/**
 * On a cluster every queue gets a member on each node, so one node down leaves a majority;
 * `--worker-env QUORUM_GROUP_SIZE=1` says otherwise for the flood's queues and its workers alike.
 */
function groupSizeOf(opts: FloodOptions): QuorumGroupSize | undefined {
  if (!opts.cluster) return undefined;
  return quorumGroupSizeIn({ QUORUM_GROUP_SIZE: opts.workerEnv.QUORUM_GROUP_SIZE ?? '3' });
}

/**
 * Where one flood runs: its tag, namespace, database, run directory and the connections the
 * flood itself uses (named stockflow-flood:…, so no fault ever hits them). Owned runs create
 * and remove all of it; attached runs borrow the deployment's namespace and database and
 * remove only what the flood added (its tap queue); the run's rows stay, scoped by the tag.
 * Removal is the run's Teardown's: each piece registers its undo here as it is created.
 */
export class RunEnvironment {
  private constructor(
    readonly tag: string,
    readonly namespace: string,
    readonly databaseUrl: string,
    /** Set when the flood created the database (and drops it at cleanup). */
    readonly ownDatabase: string | undefined,
    readonly topology: TopologyOptions,
    /** The event tap's queue (the flood's own, even in a deployment's namespace). */
    readonly tapQueue: string,
    readonly runDir: string,
    readonly pool: Pool,
    readonly amqp: AmqpConnection,
    readonly log: Logger,
    private readonly opts: FloodOptions,
  ) {}

  /**
   * Creates the run's database, connections and topology, each registering its undo with
   * `teardown` as it is made: whatever this gets to before it fails is removed again. State
   * (database, queues, exchanges, Redis keys) is removed unless --keep; the run directory
   * unless `keepLogs()` says so when the teardown runs (a failed run keeps its logs).
   */
  static async prepare(opts: FloodOptions, teardown: Teardown, keepLogs: () => boolean): Promise<RunEnvironment> {
    const tag = randomBytes(3).toString('hex');
    const namespace = opts.namespace ?? (opts.attach ? process.env.STOCKFLOW_NAMESPACE || 'stockflow' : `fl-${tag}`);
    const runDir = opts.runDir ?? join(tmpdir(), 'stockflow-flood', tag);
    mkdirSync(runDir, { recursive: true });
    const log = pino({ level: 'info' }, pino.destination({ dest: join(runDir, 'flood.log'), sync: false, mkdir: true }));
    // Registered first, so removed last: the log tells how the rest of the teardown went.
    teardown.defer('run directory', async () => {
      log.flush?.();
      if (!keepLogs() && !opts.runDir) rmSync(runDir, { recursive: true, force: true });
    });
    const topology: TopologyOptions = { namespace, partitions: opts.partitions, deliveryLimit: DELIVERY_LIMIT, quorumGroupSize: groupSizeOf(opts) };

    let databaseUrl = opts.databaseUrl;
    let ownDatabase: string | undefined;
    if (!opts.attach) {
      // sf_<namespace>: the name the test suite's stale-namespace sweep also removes after a killed run.
      ownDatabase = `sf_${namespace.replace(/-/g, '_')}`;
      const database = ownDatabase;
      const template = process.env.STOCKFLOW_TEST_TEMPLATE;
      await teardown.create(
        `database ${database}`,
        async () => {
          // Under jest a migrated template exists: cloning it takes ~100 ms instead of migrating.
          if (template) await adminQuery(opts.databaseUrl, `CREATE DATABASE "${database}" TEMPLATE "${template}"`);
          else await createTemplate(opts.databaseUrl, database).catch(async (err: unknown) => {
            await dropDatabase(opts.databaseUrl, database).catch(() => undefined);
            throw err;
          });
        },
        async () => {
          if (!opts.keep) await dropDatabase(opts.databaseUrl, database);
        },
      );
      databaseUrl = withDatabase(opts.databaseUrl, database);
    }
    const pool = new Pool({ connectionString: databaseUrl, max: 4, application_name: `stockflow-flood:${tag}` });
    pool.on('error', () => undefined);
    // pool.end() waits for clients still checked out; the database drop after it ends their sessions anyway.
    teardown.defer('flood pool', ({ hurry }) => Promise.race([pool.end(), new Promise((r) => setTimeout(r, hurry ? 1000 : 10_000).unref())]));

    const tapQueue = FloodEventTap.queueName(namespace, tag);
    if (!opts.attach) {
      // Before anything is declared: a declaration that fails halfway is removed too. Runs after
      // the workers are stopped (they registered later), so nothing declares or writes again.
      teardown.defer(`namespace ${namespace}`, async () => {
        if (!opts.keep) await deleteNamespace({ amqpUrl: opts.amqpUrl, redisUrl: opts.redisUrl, topology, queues: [tapQueue] });
      });
    } else {
      // The tap queue is bound '#' to a live deployment's events: left behind, it would fill
      // with every event of that deployment for ever, so it goes even with --keep.
      teardown.defer(`tap queue ${tapQueue}`, () => deleteQueues(opts.amqpUrl, [tapQueue]));
    }
    const amqp = new AmqpConnection({ url: opts.amqpUrl, name: `stockflow-flood:${tag}:control`, heartbeatS: 10, retryBaseMs: 100, retryMaxMs: 2000, log });
    teardown.defer('control connection', () => amqp.close());
    await amqp.start();
    // Owned: declared before any worker runs, so the tap is bound before the first event.
    if (!opts.attach) await teardown.create('topology', () => declareTopology(() => amqp.createChannel(), topology, WORKER_KINDS), async () => undefined);
    return new RunEnvironment(tag, namespace, databaseUrl, ownDatabase, topology, tapQueue, runDir, pool, amqp, log, opts);
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
      ...(this.topology.quorumGroupSize ? { QUORUM_GROUP_SIZE: String(this.topology.quorumGroupSize) } : {}),
    };
    return { ...base, ...extra, ...this.opts.workerEnv };
  }
}
