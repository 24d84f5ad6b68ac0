import type { Socket } from 'node:net';
import { Client, Pool } from 'pg';
import { DataSource } from 'typeorm';
import { corkClientSocket, PoolUnavailable, postgresPool } from '@stockflow/shared';
import { LOCAL_DEFAULTS } from '../support/services';
import { countSocketWrites } from '../support/socket-writes';

/**
 * The parts of pg and TypeORM that shared/src/db/pg-internals.ts relies on beyond their
 * documented APIs. These fail when an upgrade moves them, before the product silently falls
 * back (uncorked writes) or refuses to start (no pool).
 */
const URL = process.env.DATABASE_URL ?? LOCAL_DEFAULTS.DATABASE_URL;

describe('pg internals', () => {
  let client: Client | undefined;
  afterAll(async () => {
    await client?.end();
  });

  it("corks a connected pipelined client's socket, so one synchronous run's statements leave in one write", async () => {
    client = new Client({ connectionString: URL, pipeline: true });
    await client.connect();
    const socket = client.connection.stream as Socket;
    const writes = countSocketWrites(socket);

    expect(corkClientSocket(client)).toBe(true);
    expect(socket.writableCorked).toBe(1);
    // A second call in the same run keeps the one cork.
    expect(corkClientSocket(client)).toBe(true);
    expect(socket.writableCorked).toBe(1);
    const answers = [1, 2, 3].map((n) => client!.query<{ n: number }>('SELECT $1::int AS n', [n]));
    expect(writes).toEqual({ write: 0, writev: 0 });

    await Promise.resolve();
    expect(socket.writableCorked).toBe(0);
    expect(writes.write + writes.writev).toBe(1);
    expect((await Promise.all(answers)).map((r) => r.rows[0]!.n)).toEqual([1, 2, 3]);
  });

  it('changes nothing and says so when a client has no socket where pg keeps it', () => {
    expect(corkClientSocket({} as Client)).toBe(false);
    expect(corkClientSocket({ connection: {} } as unknown as Client)).toBe(false);
  });
});

describe('TypeORM internals', () => {
  let dataSource: DataSource | undefined;
  afterAll(async () => {
    if (dataSource?.isInitialized) await dataSource.destroy();
  });

  it("hands out the pg Pool of a postgres DataSource's driver", async () => {
    dataSource = new DataSource({ type: 'postgres', url: URL, entities: [], synchronize: false, logging: false, poolSize: 2 });
    expect(() => postgresPool(dataSource!)).toThrow(PoolUnavailable);
    await dataSource.initialize();

    const pool = postgresPool(dataSource);
    expect(pool).toBeInstanceOf(Pool);
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    const client = await pool.connect();
    try {
      expect(corkClientSocket(client)).toBe(true);
    } finally {
      client.release();
    }
  });
});
