import { Database, TransactionRolledBack } from '@stockflow/shared';
import { TestEnv } from '../support';

/**
 * Database.transaction() on pipelined clients: BEGIN goes with the first statement and COMMIT
 * with the last writes. What must hold: a commit is a commit, a failed write commits nothing,
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
  it('sends writes that do not fold one by one, before COMMIT', async () => {
    const returned: number[] = [];
    await db.transaction(async (tx) => {
      // Dollar quoting keeps combineWrites from folding them.
      tx.write('INSERT INTO scratch_tx (id, note) VALUES ($1, $$x$$) RETURNING id', [7], (rows) => returned.push(...rows.map((r) => Number(r.id))));
      tx.write('INSERT INTO scratch_tx (id, note) VALUES ($1, $$y$$)', [8]);
    });
    expect(returned).toEqual([7]);
    expect(await ids()).toEqual([1, 2, 5, 7, 8]);
  });
});
