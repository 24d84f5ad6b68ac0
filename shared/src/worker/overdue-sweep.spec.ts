import { OverdueSweep, type SweepKey } from './overdue-sweep';

interface Row {
  id: string;
  at: Date;
}

/** Rows overdue in a fake table, read in (at, id) order after a cursor, as the SQL does. */
function table(n: number): Row[] {
  return Array.from({ length: n }, (_, i) => ({ id: `r${String(i).padStart(2, '0')}`, at: new Date(1_000 + i) }));
}

function sweepOver(rows: Row[], sent: string[], page = 4) {
  const after = (k: SweepKey | undefined) => (r: Row) => !k || r.at.getTime() > k.at.getTime() || (r.at.getTime() === k.at.getTime() && r.id > k.id);
  return new OverdueSweep<Row>({
    page,
    resend: { firstMs: 60_000, maxMs: 600_000 },
    keyOf: (r) => ({ at: r.at, id: r.id }),
    read: async (k, limit) => rows.filter(after(k)).slice(0, limit),
    send: async (r) => {
      sent.push(r.id);
    },
  });
}

describe('overdue sweep', () => {
  it('pages on where the last pass stopped, then starts over from the oldest', async () => {
    const sent: string[] = [];
    const sweep = sweepOver(table(10), sent);
    expect(await sweep.pass()).toEqual({ read: 4, sent: 4 });
    expect(await sweep.pass()).toEqual({ read: 4, sent: 4 });
    expect(await sweep.pass()).toEqual({ read: 2, sent: 2 });
    expect(sent).toEqual(table(10).map((r) => r.id));
    // Back at the start: all ten were just sent, so none goes again before its backoff.
    expect(await sweep.pass()).toEqual({ read: 4, sent: 0 });
  });

  it('a send that fails ends the pass; the row goes on a later one', async () => {
    const rows = table(3);
    const sent: string[] = [];
    let fail = true;
    const sweep = new OverdueSweep<Row>({
      page: 10,
      resend: { firstMs: 60_000, maxMs: 600_000 },
      keyOf: (r) => ({ at: r.at, id: r.id }),
      read: async () => rows,
      send: async (r) => {
        if (r.id === 'r01' && fail) throw new Error('broker away');
        sent.push(r.id);
      },
    });
    await expect(sweep.pass()).rejects.toThrow('broker away');
    fail = false;
    expect(await sweep.pass()).toEqual({ read: 3, sent: 2 });
    expect(sent).toEqual(['r00', 'r01', 'r02']);
  });
});
