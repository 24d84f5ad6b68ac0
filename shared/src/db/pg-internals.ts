/**
 * Every place where stockflow relies on more of pg and TypeORM than their documented APIs.
 * Checked against pg 8.23.1 (with @types/pg 8.23.1) and typeorm 1.1.1;
 * test/src/foundation/pg-internals.int.ts fails when either changes shape.
 *
 * - TypeORM PostgresDriver `master`: the pg Pool TypeORM opened. It is public and documented in
 *   TypeORM's typings ("Pool for master database"), only typed `any`; postgresPool() narrows
 *   the driver by class and checks the pool's shape. The hot path borrows its clients there, so
 *   the service keeps one pool, sized and configured once, for TypeORM and its own SQL. When
 *   the shape changes, postgresPool() throws PoolUnavailable and Database.open fails at start.
 *
 * - pg Client `connection.stream`: the client's socket. @types/pg declares it, pg itself does
 *   not document it. pg writes every query on its own, and each write that reaches Postgres
 *   wakes its backend; corking the socket for one synchronous run sends the statements of the
 *   run (BEGIN with the first statement, the folded writes with COMMIT) in one write. When the
 *   shape changes, corkClientSocket() returns false and changes nothing: the caller logs a
 *   warning and sends each statement in a write of its own, which is correct, only costlier.
 */
import type { Client, Pool } from 'pg';
import type { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { StockflowError } from '../errors';

/** TypeORM's driver does not hold the pg Pool the hot path borrows its clients from. */
export class PoolUnavailable extends StockflowError {
  constructor(readonly reason: string) {
    super(`no pg pool from TypeORM's postgres driver (typeorm internals changed?): ${reason}`);
  }
}

function isPool(value: unknown): value is Pool {
  return typeof value === 'object' && value !== null && 'connect' in value && typeof value.connect === 'function' && 'query' in value && typeof value.query === 'function';
}

/** The pg Pool of an initialized postgres DataSource. */
export function postgresPool(dataSource: DataSource): Pool {
  const driver = dataSource.driver;
  if (!(driver instanceof PostgresDriver)) throw new PoolUnavailable(`the driver is ${driver.constructor.name}, not PostgresDriver`);
  const master: unknown = driver.master;
  if (!isPool(master)) throw new PoolUnavailable(dataSource.isInitialized ? 'PostgresDriver.master is not a pool' : 'the data source is not initialized');
  return master;
}

interface Corkable {
  cork(): void;
  uncork(): void;
}

function isCorkable(value: unknown): value is Corkable {
  return typeof value === 'object' && value !== null && 'cork' in value && typeof value.cork === 'function' && 'uncork' in value && typeof value.uncork === 'function';
}

/** Sockets corked until the current synchronous run ends. */
const CORKED = new WeakSet<Corkable>();

/**
 * Holds the client's socket writes until the microtasks of the current synchronous run start,
 * so the statements sent in the run leave in one write (a pipelined client writes each one at
 * once; nothing waits for the held writes but their own answers). Returns false, changing
 * nothing, when the client's socket is not where pg 8 keeps it.
 */
export function corkClientSocket(client: Client): boolean {
  const loose: { connection?: { stream?: unknown } } = client;
  const socket = loose.connection?.stream;
  if (!isCorkable(socket)) return false;
  if (CORKED.has(socket)) return true;
  CORKED.add(socket);
  socket.cork();
  queueMicrotask(() => {
    CORKED.delete(socket);
    socket.uncork();
  });
  return true;
}
