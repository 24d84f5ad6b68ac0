import { combineWrites } from './combine-writes';

describe('combineWrites', () => {
  it('folds writes into CTEs, renumbers parameters and makes the SELECT the main query', () => {
    const folded = combineWrites([
      { sql: 'INSERT INTO a (x, y) SELECT * FROM unnest($1::text[], $2::int[])', params: [['p'], [1]] },
      { sql: `SELECT pg_notify($1, '')`, params: ['chan'] },
      { sql: 'UPDATE b SET v = $1 WHERE id = $2', params: [5, 'k'] },
    ])!;
    expect(folded.sql).toBe(
      'WITH w0 AS (INSERT INTO a (x, y) SELECT * FROM unnest($1::text[], $2::int[])),\n' +
        'w1 AS (UPDATE b SET v = $3 WHERE id = $4)\n' +
        `SELECT x.* FROM (SELECT pg_notify($5, '')) x`,
    );
    expect(folded.params).toEqual([['p'], [1], 5, 'k', 'chan']);
    expect(folded.returning).toEqual([]);
  });

  it('hands RETURNING rows back as a json column of the one row', () => {
    const onRows = jest.fn();
    const folded = combineWrites([
      { sql: 'UPDATE b SET v = 1', params: [] },
      { sql: 'INSERT INTO o (m) SELECT unnest($1::text[]) RETURNING id', params: [['a']], onRows },
    ])!;
    expect(folded.sql).toBe(
      'WITH w0 AS (UPDATE b SET v = 1),\n' +
        'w1 AS (INSERT INTO o (m) SELECT unnest($1::text[]) RETURNING id)\n' +
        `SELECT (SELECT coalesce(json_agg(w1), '[]') FROM w1) AS w1`,
    );
    expect(folded.returning).toEqual([{ column: 'w1', onRows }]);
  });

  it('refuses what it cannot fold: two SELECTs, other statements, dollar quoting', () => {
    expect(combineWrites([{ sql: 'SELECT 1', params: [] }, { sql: 'SELECT 2', params: [] }])).toBeUndefined();
    expect(combineWrites([{ sql: 'LOCK TABLE a', params: [] }, { sql: 'DELETE FROM a', params: [] }])).toBeUndefined();
    expect(combineWrites([{ sql: 'DELETE FROM a', params: [] }, { sql: 'INSERT INTO a VALUES ($$x$$)', params: [] }])).toBeUndefined();
  });
});
