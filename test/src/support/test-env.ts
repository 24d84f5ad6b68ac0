import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import pino from 'pino';
import { Redis } from 'ioredis';
import {
  AmqpConnection,
  deleteNamespaceKeys,
  deleteTopology,
  Publisher,
  WORKER_KINDS,
  queuesOf,
  type WorkerKind,
  type Logger,
  type TopologyOptions,
} from '@stockflow/shared';
import { EventTap } from './event-tap';
import { dropDatabase, adminQuery, withDatabase } from '@stockflow/testkit/support/template-db';
import { LOCAL_DEFAULTS } from './services';

export interface DeadMessage {
  queue: string;
  messageId: string | undefined;
  type: string | undefined;
  headers: Record<string, unknown>;
  body: string;
}

export const TEST_LOG_DIR = join(tmpdir(), 'stockflow-tests');

/** The webhook secret of every test's payment worker and provider simulator. */
export const TEST_WEBHOOK_SECRET = 'test-webhook-secret-0123456789';

export interface TestEnvOptions {
  partitions?: number;
  deliveryLimit?: number;
}

/**
 * Everything one test file needs, isolated from every other file: its own database (cloned
 * from the migrated template), its own namespace for exchanges, queues and Redis keys, and
 * cleanup of all three.
 */
export class TestEnv {
  pg: Pool;
  readonly redis: Redis;
  readonly log: Logger;
  private publishers: Publisher[] = [];
  private taps: EventTap[] = [];
  private conns: AmqpConnection[] = [];
  private stoppables: { stop(): Promise<void> }[] = [];

  private constructor(
    readonly namespace: string,
    readonly database: string,
    readonly serverUrl: string,
    readonly databaseUrl: string,
    readonly amqpUrl: string,
    readonly redisUrl: string,
    readonly topology: TopologyOptions,
  ) {
    this.pg = this.newPool();
    this.redis = new Redis(redisUrl, { keyPrefix: `${namespace}:`, lazyConnect: false, maxRetriesPerRequest: 2 });
    mkdirSync(TEST_LOG_DIR, { recursive: true });
    this.log = pino({ level: process.env.LOG_LEVEL ?? 'info' }, pino.destination({ dest: join(TEST_LOG_DIR, `${namespace}.log`), sync: false, mkdir: true }));
  }

  static async create(label: string, opts: TestEnvOptions = {}): Promise<TestEnv> {
    const template = process.env.STOCKFLOW_TEST_TEMPLATE;
    if (!template) throw new Error('STOCKFLOW_TEST_TEMPLATE missing: run through jest (globalSetup builds the template)');
    const serverUrl = process.env.DATABASE_URL ?? LOCAL_DEFAULTS.DATABASE_URL;
    const suffix = randomBytes(3).toString('hex');
    const namespace = `t-${label.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 16)}-${suffix}`;
    const database = `sf_${namespace.replace(/-/g, '_')}`;
    await adminQuery(serverUrl, `CREATE DATABASE "${database}" TEMPLATE "${template}"`);
    return new TestEnv(
      namespace,
      database,
      serverUrl,
      withDatabase(serverUrl, database),
      process.env.AMQP_URL ?? LOCAL_DEFAULTS.AMQP_URL,
      process.env.REDIS_URL ?? LOCAL_DEFAULTS.REDIS_URL,
      { namespace, partitions: opts.partitions ?? 4, deliveryLimit: opts.deliveryLimit ?? 20 },
    );
  }

  private newPool(): Pool {
    const pool = new Pool({ connectionString: this.databaseUrl, max: 4 });
    // An idle client whose session ends (DROP DATABASE … WITH (FORCE) at cleanup, a chaos
    // test's pg_terminate_backend) must not become an unhandled 'error' that fails the test.
    pool.on('error', (err) => this.log.warn({ err: err.message }, 'idle test pool client lost its session'));
    return pool;
  }

  /** A new pool for the test's queries, after the test ended the old one (e.g. to drop and make the database again). */
  reconnectPg(): void {
    this.pg = this.newPool();
  }

  /** Environment for a worker (in-process config or a child process). */
  env(overrides: Record<string, string | number> = {}): Record<string, string> {
    const base: Record<string, string | number> = {
      DATABASE_URL: this.databaseUrl,
      AMQP_URL: this.amqpUrl,
      REDIS_URL: this.redisUrl,
      STOCKFLOW_NAMESPACE: this.namespace,
      PARTITIONS: this.topology.partitions,
      DELIVERY_LIMIT: this.topology.deliveryLimit,
      HTTP_PORT: -1,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
      PG_POOL_SIZE: 5,
      // Tests run as production does (no public development secrets), with a secret of their own.
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      // The one-per-tx jest project (jest.config.js) runs the guarantees without batching too:
      // one message per batch and no group commit merging batches of different partitions.
      ...(process.env.STOCKFLOW_TEST_BATCH_SIZE ? { BATCH_SIZE: process.env.STOCKFLOW_TEST_BATCH_SIZE, TX_CONCURRENCY: 0 } : {}),
      ...overrides,
    };
    return Object.fromEntries(Object.entries(base).map(([k, v]) => [k, String(v)]));
  }

  /** A logger that also keeps its lines in memory, for tests that assert on what was logged. */
  captureLog(): { log: Logger; lines: string[] } {
    const lines: string[] = [];
    const file = pino.destination({ dest: join(TEST_LOG_DIR, `${this.namespace}.log`), sync: false, mkdir: true });
    const log = pino({ level: process.env.LOG_LEVEL ?? 'info' }, {
      write(line: string) {
        lines.push(line);
        file.write(line);
      },
    });
    return { log, lines };
  }

  async publisher(opts: { autoSequence?: boolean } = {}): Promise<Publisher> {
    const p = await Publisher.connect({ url: this.amqpUrl, namespace: this.namespace, partitions: this.topology.partitions, log: this.log, name: `${this.namespace}-publisher`, autoSequence: opts.autoSequence ?? false });
    this.publishers.push(p);
    return p;
  }

  /** Records every event on the events exchange (a temporary queue bound to '#'). */
  async tap(): Promise<EventTap> {
    const tap = await EventTap.open(this.amqpUrl, this.namespace, this.log);
    this.taps.push(tap);
    return tap;
  }

  async connection(name = 'test'): Promise<AmqpConnection> {
    const conn = new AmqpConnection({ url: this.amqpUrl, name: `${this.namespace}-${name}`, heartbeatS: 10, retryBaseMs: 50, retryMaxMs: 1000, log: this.log });
    await conn.start();
    this.conns.push(conn);
    return conn;
  }

  /** Takes every message out of the dead queues of one worker kind (they are gone afterwards). */
  async drainDeadQueues(worker: WorkerKind): Promise<DeadMessage[]> {
    return this.readDeadQueues(worker, true);
  }

  /** Reads the dead queues without consuming them (safe inside `eventually`). */
  async peekDeadQueues(worker: WorkerKind): Promise<DeadMessage[]> {
    return this.readDeadQueues(worker, false);
  }

  private async readDeadQueues(worker: WorkerKind, consume: boolean): Promise<DeadMessage[]> {
    const conn = await this.connection('dlq-reader');
    const ch = await conn.createChannel();
    const out: DeadMessage[] = [];
    for (const q of queuesOf(this.topology, worker).filter((q) => q.name.endsWith('.dead'))) {
      for (;;) {
        const m = await ch.get(q.name, { noAck: consume });
        if (!m) break;
        out.push({ queue: q.name, messageId: m.properties.messageId as string | undefined, type: m.properties.type as string | undefined, headers: (m.properties.headers ?? {}), body: m.content.toString() });
      }
    }
    // Without noAck the messages stay unacked on this channel; closing it puts them back.
    await ch.close();
    return out;
  }

  /** Ready messages per partition queue (AMQP reports no unacked count; waitIdle adds the outboxes). */
  async queueDepths(workers: readonly WorkerKind[] = WORKER_KINDS): Promise<Record<string, number>> {
    const conn = await this.connection('depths');
    const ch = await conn.createChannel();
    const out: Record<string, number> = {};
    for (const w of workers) {
      for (const q of queuesOf(this.topology, w).filter((q) => !q.name.endsWith('.dead'))) {
        out[q.name] = (await ch.checkQueue(q.name)).messageCount;
      }
    }
    await ch.close();
    return out;
  }

  /** Waits until no partition queue holds a message and every outbox is empty. */
  async waitIdle(timeoutMs = 30_000, workers: readonly WorkerKind[] = WORKER_KINDS): Promise<void> {
    await eventually(async () => {
      const depths = await this.queueDepths(workers);
      const busy = Object.entries(depths).filter(([, n]) => n > 0);
      if (busy.length > 0) throw new Error(`queues not empty: ${JSON.stringify(busy)}`);
      for (const schema of ['inventory', 'orders', 'payments']) {
        const rows = await this.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".outbox`).catch(() => [{ n: '0' }]);
        if (Number(rows[0]?.n ?? 0) > 0) throw new Error(`${schema}.outbox not empty`);
      }
    }, timeoutMs);
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]> {
    return (await this.pg.query(sql, params)).rows as R[];
  }

  /** Workers (or anything with stop()) to stop at cleanup, even when the test failed half-way. */
  track<T extends { stop(): Promise<void> }>(thing: T): T {
    this.stoppables.push(thing);
    return thing;
  }

  async cleanup(): Promise<void> {
    await Promise.allSettled(this.stoppables.map((s) => s.stop()));
    await Promise.allSettled(this.taps.map((t) => t.close()));
    await Promise.allSettled(this.publishers.map((p) => p.close()));
    const conn = new AmqpConnection({ url: this.amqpUrl, name: `${this.namespace}-cleanup`, heartbeatS: 10, retryBaseMs: 50, retryMaxMs: 1000, log: this.log });
    await conn.start();
    await deleteTopology(() => conn.createChannel(), this.topology).catch(() => undefined);
    await conn.close();
    await Promise.allSettled(this.conns.map((c) => c.close()));
    this.redis.disconnect();
    await deleteNamespaceKeys(this.redisUrl, this.namespace);
    await this.pg.end();
    await dropDatabase(this.serverUrl, this.database);
    this.log.flush?.();
  }
}

/** Polls until `check` passes (returns without throwing) or the timeout is over. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
