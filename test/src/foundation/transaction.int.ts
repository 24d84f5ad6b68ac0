import { Socket } from 'node:net';
import { Database, TransactionRolledBack } from '@stockflow/shared';
import { TestEnv } from '../support';

/**
 * Database.transaction() on pipelined clients: BEGIN goes with the first statement, statements
 * called together go in one socket write, and COMMIT goes with the last writes. What must hold: a commit is a commit, a failed write commits nothing,
 * and a transaction that an error aborted is never reported as committed.
 */
describe('pipelined transactions', () => {
  let env: TestEnv;
  let db: Database;
  afterAll(async () => {
    await db?.close();
    await env?.cleanup();
  });

  const ids = async () => (await env.query<{ id: number }>('SELECT id FROM scratch_tx ORDER BY id')).map((r) => r.id);

  it('commits folded writes with COMMIT in one round trip, and fails whole when a write fails', async () => {
    env = await TestEnv.create('tx-pipeline');
    await env.query('CREATE TABLE scratch_tx (id int PRIMARY KEY, note text)');
    db = await Database.open({ url: env.databaseUrl, schema: 'public', migrations: [], entities: [], poolSize: 2, applicationName: 'tx-pipeline-test', log: env.log });

    const returned: unknown[] = [];
    let hooked = false;
    await db.transaction(async (tx) => {
      expect(await tx.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      tx.write('INSERT INTO scratch_tx (id, note) VALUES ($1, $2) RETURNING id', [1, 'a'], (rows) => returned.push(...rows.map((r) => Number(r.id))));
      tx.write('INSERT INTO scratch_tx (id, note) VALUES ($1, $2)', [2, 'b']);
      tx.onCommit(() => (hooked = true));
    });
    expect(await ids()).toEqual([1, 2]);
    expect(returned).toEqual([1]);
    expect(hooked).toBe(true);

    // The last writes fail (duplicate key): their error surfaces, nothing of the transaction stays.
    hooked = false;
    const failing = db.transaction(async (tx) => {
      await tx.exec('INSERT INTO scratch_tx (id) VALUES (3)');
      tx.write('INSERT INTO scratch_tx (id) VALUES ($1)', [4]);
      tx.write('INSERT INTO scratch_tx (id) VALUES ($1)', [1]);
      tx.onCommit(() => (hooked = true));
    });
    await expect(failing).rejects.toMatchObject({ code: '23505' });
    expect(hooked).toBe(false);
    expect(await ids()).toEqual([1, 2]);

    // The pool's clients are fine afterwards.
    await db.transaction(async (tx) => {
      tx.write('INSERT INTO scratch_tx (id) VALUES ($1)', [5]);
    });
    expect(await ids()).toEqual([1, 2, 5]);
  });

  it('refuses to call a transaction committed when an error the handler swallowed aborted it', async () => {
    const attempt = db.transaction(async (tx) => {
      await tx.exec('INSERT INTO scratch_tx (id) VALUES (6)');
      await tx.exec('INSERT INTO scratch_tx (id) VALUES (1)').catch(() => undefined);
    });
    await expect(attempt).rejects.toBeInstanceOf(TransactionRolledBack);
    expect(await ids()).toEqual([1, 2, 5]);
  });
  it('sends writes that do not fold as statements of their own, in order, before what follows them', async () => {
    const returned: number[] = [];
    await db.transaction(async (tx) => {
      // Dollar quoting keeps combineWrites from folding them.
      tx.write('INSERT INTO scratch_tx (id, note) VALUES ($1, $$x$$) RETURNING id', [7], (rows) => returned.push(...rows.map((r) => Number(r.id))));
      tx.write('INSERT INTO scratch_tx (id, note) VALUES ($1, $$y$$)', [8]);
      // Called together behind the writes: both run after both writes.
      const first = tx.query<{ n: number }>('SELECT count(*)::int AS n FROM scratch_tx WHERE id IN (7, 8)');
      const second = tx.query<{ n: number }>('SELECT count(*)::int AS n FROM scratch_tx WHERE id IN (7, 8)');
      expect(await first).toEqual([{ n: 2 }]);
      expect(await second).toEqual([{ n: 2 }]);
    });
    expect(returned).toEqual([7]);
    expect(await ids()).toEqual([1, 2, 5, 7, 8]);
  });

  it('sends statements called together in one socket write, runs them in call order and reports the first error', async () => {
    // A warm client (the pool hands out the one used last), so no connection start-up writes
    // are counted; only the transaction's client writes while it runs.
    await db.query('SELECT 1');
    const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
    const write = jest.spyOn(proto, '_write');
    const writev = jest.spyOn(proto, '_writev');
    const sockets = () => write.mock.calls.length + writev.mock.calls.length;
    let together = -1;
    try {
      await db.transaction(async (tx) => {
        tx.write('INSERT INTO scratch_tx (id, note) VALUES ($1, $2)', [9, 'p']);
        const counted = tx.query<{ n: number }>('SELECT count(*)::int AS n FROM scratch_tx WHERE id IN (9, 10)');
        const inserted = tx.query<{ id: number }>('INSERT INTO scratch_tx (id) VALUES ($1) RETURNING id', [10]);
        const recounted = tx.query<{ n: number }>('SELECT count(*)::int AS n FROM scratch_tx WHERE id IN (9, 10)');
        expect(await counted).toEqual([{ n: 1 }]);
        expect(await inserted).toEqual([{ id: 10 }]);
        expect(await recounted).toEqual([{ n: 2 }]);
        together = sockets();
      });
      // BEGIN, the write and three statements in one write; COMMIT in a second.
      expect(together).toBe(1);
      expect(sockets()).toBe(2);
    } finally {
      write.mockRestore();
      writev.mockRestore();
    }
    expect(await ids()).toEqual([1, 2, 5, 7, 8, 9, 10]);

    let behind: unknown;
    const failing = db.transaction(async (tx) => {
      const duplicate = tx.exec('INSERT INTO scratch_tx (id) VALUES (11), (1)');
      const next = tx.query('SELECT 1 AS one');
      next.catch((err: unknown) => (behind = err));
      await duplicate;
      await next;
    });
    await expect(failing).rejects.toMatchObject({ code: '23505' });
    // The statement sent behind the failed one was refused by the aborted transaction.
    expect(behind).toMatchObject({ code: '25P02' });
    expect(await ids()).toEqual([1, 2, 5, 7, 8, 9, 10]);
  });
});
