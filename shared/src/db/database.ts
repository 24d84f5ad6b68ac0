import { Client, type Pool, type PoolClient, type QueryResult } from 'pg';
import { DataSource, type EntitySchema, type MigrationInterface } from 'typeorm';
import type { Logger } from '../logger';
import { combineWrites, type Statement } from './combine-writes';
import { isTransientDbError, TransactionRolledBack } from './errors';
import { corkClientSocket, postgresPool } from './pg-internals';
import { prepared } from './prepared';

/** What a handler's transaction can do. Deliberately small: SQL in, rows out. */
export interface Tx {
  /**
   * Sends the statement at once, behind any queued writes, without waiting for earlier answers
   * (the connection is pipelined): statements called in one synchronous run go to Postgres in
   * one write and run in call order. Await them in that order too: after a failed statement
   * the later ones fail as "transaction is aborted", so the first error is the one to report.
   */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Runs a statement and returns the affected row count. */
  exec(sql: string, params?: unknown[]): Promise<number>;
  /**
   * Queues a write whose result nobody reads. Queued writes reach Postgres together, folded
   * into one statement (combineWrites), before the next query or exec and before COMMIT: one
   * round trip for a batch's updates, ledger and outbox rows. They share one snapshot, so
   * writes queued together must touch disjoint rows; an error of any surfaces at that point.
   * `onRows` gets the statement's RETURNING rows then (json-decoded when folded). It must not
   * throw: the next statement (COMMIT, for the last writes) is already on its way by then.
   */
  write(sql: string, params?: unknown[], onRows?: (rows: Record<string, unknown>[]) => void): void;
  /**
   * Runs `fn` synchronously right after COMMIT succeeds (never on rollback), before the
   * transaction's promise resolves: whatever it hands on keeps the commit order.
   */
  onCommit(fn: () => void): void;
}

export interface DatabaseOptions {
  url: string;
  /** The service's own Postgres schema; its migrations table lives there too. */
  schema: string;
  migrations: (new () => MigrationInterface)[];
  entities: EntitySchema[];
  poolSize: number;
  applicationName: string;
  log: Logger;
}

/**
 * Session settings that keep a stuck client from holding row locks forever: a worker that is
 * SIGSTOPped (or cut off) mid-transaction looks "idle in transaction" to Postgres, which then
 * ends the session and releases its locks; lock waits and statements are bounded too, and
 * surface as transient errors that are retried in place.
 */
export const SESSION_OPTIONS = '-c idle_in_transaction_session_timeout=15000 -c lock_timeout=20000 -c statement_timeout=60000';

/** Pooled clients that carry a lasting 'error' listener (see Database.transaction). */
const GUARDED = new WeakSet<object>();
const ignore = () => undefined;

/**
 * TypeORM owns the schema (entities, migrations, the read model); the hot path borrows pg
 * clients from TypeORM's own pool and speaks plain SQL, which keeps the per-message cost to
 * the statements themselves and gives pg's error objects (SQLSTATE) to the retry logic.
 */
export class Database {
  private uncorkedWarned = false;

  private constructor(
    readonly dataSource: DataSource,
    readonly pool: Pool,
    private readonly opts: DatabaseOptions,
  ) {}

  static async open(opts: DatabaseOptions): Promise<Database> {
    const dataSource = new DataSource({
      type: 'postgres',
      url: opts.url,
      schema: opts.schema,
      entities: opts.entities,
      migrations: opts.migrations,
      migrationsTableName: 'migrations',
      synchronize: false,
      migrationsRun: false,
      logging: false,
      applicationName: opts.applicationName,
      poolSize: opts.poolSize,
      // pipeline: a query is written without waiting for the previous one's answer, which lets
      // transaction() send BEGIN with the first statement and COMMIT with the last writes.
      extra: { options: SESSION_OPTIONS, connectionTimeoutMillis: 10_000, pipeline: true },
    });
    await dataSource.initialize();
    try {
      return new Database(dataSource, postgresPool(dataSource), opts);
    } catch (err) {
      await dataSource.destroy().catch(() => undefined);
      throw err;
    }
  }

  get schema(): string {
    return this.opts.schema;
  }

  /**
   * Runs pending migrations. Several instances may start at once: a session advisory lock
   * makes them take turns, and the second finds nothing to do.
   */
  async migrate(): Promise<string[]> {
    const lock = new Client({ connectionString: this.opts.url, application_name: `${this.opts.applicationName}:migrate` });
    await lock.connect();
    try {
      await lock.query('SELECT pg_advisory_lock(hashtext($1))', [`stockflow.migrate.${this.opts.schema}`]);
      await lock.query(`CREATE SCHEMA IF NOT EXISTS "${this.opts.schema}"`);
      const ran = await this.dataSource.runMigrations({ transaction: 'each' });
      if (ran.length > 0) this.opts.log.info({ schema: this.opts.schema, migrations: ran.map((m) => m.name) }, 'migrations applied');
      return ran.map((m) => m.name);
    } finally {
      await lock.query('SELECT pg_advisory_unlock(hashtext($1))', [`stockflow.migrate.${this.opts.schema}`]).catch(() => undefined);
      await lock.end().catch(() => undefined);
    }
  }

  /** Query outside any transaction (read model, metrics, retention). */
  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]> {
    const res = await this.pool.query(prepared(sql, params));
    return res.rows as R[];
  }

  /**
   * BEGIN … COMMIT on one pooled client, READ COMMITTED. synchronous_commit stays on: the
   * caller acks the message after this resolves, so the commit must be durable by then.
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    // A checked-out client has no pool error listener: a killed session (pg_terminate_backend,
    // server restart) would emit an unhandled 'error' and take the process down. The failing
    // query rejects on its own; this only marks the client as not reusable. The server's
    // FATAL can also arrive after the client was released as broken (the pool ends it and
    // listens no more), hence one listener that stays for the client's life.
    if (!GUARDED.has(client)) {
      client.on('error', ignore);
      GUARDED.add(client);
    }
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      // Pipelined: BEGIN travels with the first statement and COMMIT with the last writes, two
      // round trips fewer per transaction (each one wakes Postgres and costs most at low load,
      // where transactions are small). BEGIN fails only on a broken session, where the
      // statements behind it fail too; its own error surfaces at `await begun` at the latest.
      const tx = txOf(client, this.uncorked);
      const begun = tx.send('BEGIN');
      begun.catch(() => undefined);
      const result = await fn(tx);
      await begun;
      await tx.flushAndCommit();
      for (const hook of tx.committed) {
        try {
          hook();
        } catch (err) {
          this.opts.log.error({ err }, 'on-commit step failed');
        }
      }
      return result;
    } catch (err) {
      broken = isTransientDbError(err);
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.off('error', onError);
      // A client whose connection failed must not go back to the pool.
      client.release(broken ? true : undefined);
    }
  }

  /** The statements of a synchronous run could not be held for one write (pg-internals.ts). */
  private readonly uncorked = (): void => {
    if (this.uncorkedWarned) return;
    this.uncorkedWarned = true;
    this.opts.log.warn('pg internals changed: each statement of a transaction is written on its own');
  };

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

/**
 * COMMIT of a transaction that an error aborted answers ROLLBACK, not an error (a handler that
 * caught a failed statement and went on, say): that must not pass for a commit.
 */
function committedOrThrow(res: { command: string }): void {
  if (res.command !== 'COMMIT') throw new TransactionRolledBack(res.command);
}

function txOf(client: PoolClient, uncorked: () => void): Tx & { send(sql: string, params?: unknown[]): Promise<QueryResult>; flushAndCommit(): Promise<void>; committed: (() => void)[] } {
  let queued: Statement[] = [];
  const committed: (() => void)[] = [];
  /** Statements sent in one synchronous run leave in one socket write (corkClientSocket). */
  const send = (sql: string, params?: unknown[]): Promise<QueryResult> => {
    if (!corkClientSocket(client)) uncorked();
    return client.query(prepared(sql, params));
  };
  /** Sends the queued writes as one statement when they fold (or are one); undefined when not. */
  const sendFolded = (): Promise<void> | undefined => {
    const stmts = queued;
    const folded = stmts.length > 1 ? combineWrites(stmts) : { sql: stmts[0]!.sql, params: stmts[0]!.params, returning: undefined };
    if (!folded) return undefined;
    queued = [];
    return send(folded.sql, folded.params).then((res) => {
      if (!folded.returning) return stmts[0]!.onRows?.(res.rows as Record<string, unknown>[]);
      const row = (res.rows[0] ?? {}) as Record<string, unknown>;
      for (const r of folded.returning) r.onRows((row[r.column] ?? []) as Record<string, unknown>[]);
    });
  };
  /**
   * Writes that do not fold (see combineWrites) go as statements of their own, back to back;
   * their rows are handed on in order, and the first one's error is what rejects.
   */
  const sendEach = (): Promise<void> => {
    const stmts = queued;
    queued = [];
    const sent = stmts.map((s) => send(s.sql, s.params));
    for (const p of sent) p.catch(() => undefined);
    return (async () => {
      for (const [i, s] of stmts.entries()) s.onRows?.((await sent[i]!).rows as Record<string, unknown>[]);
    })();
  };
  /**
   * Sends the queued writes, then `next` right behind them without waiting for their answer
   * (the client is pipelined): one round trip. If the writes fail, Postgres answers `next`
   * with an error of the aborted transaction (or COMMIT with ROLLBACK); the writes' error is
   * what is thrown. Everything is sent synchronously, so statements go out in the order they
   * are called.
   */
  const afterWrites = <T>(next: () => Promise<T>): Promise<T> => {
    if (queued.length === 0) return next();
    const writes = sendFolded() ?? sendEach();
    writes.catch(() => undefined);
    const sent = next();
    sent.catch(() => undefined);
    return writes.then(() => sent);
  };
  const flushAndCommit = async () => {
    committedOrThrow(await afterWrites(() => send('COMMIT')));
  };
  return {
    query<R>(sql: string, params?: unknown[]) {
      return afterWrites(() => send(sql, params)).then((res) => res.rows as R[]);
    },
    exec(sql: string, params?: unknown[]) {
      return afterWrites(() => send(sql, params)).then((res) => res.rowCount ?? 0);
    },
    write(sql: string, params: unknown[] = [], onRows?: (rows: Record<string, unknown>[]) => void) {
      queued.push({ sql, params, onRows });
    },
    onCommit(fn: () => void) {
      committed.push(fn);
    },
    send,
    flushAndCommit,
    committed,
  };
}
