import { parseOptions, UsageError, type FloodOptions } from './options';

describe('flood options with --attach', () => {
  it("leaves out the default faults that need the flood's own worker processes, and says so", () => {
    const o = parseOptions(['--attach', '--commands', '5000'], {}) as FloodOptions;
    const kinds = o.faults.map((f) => f.kind);
    expect(kinds).not.toEqual(expect.arrayContaining(['kill']));
    for (const k of ['kill', 'stop', 'leader-stop']) expect(kinds).not.toContain(k);
    expect(kinds).toEqual(expect.arrayContaining(['conn', 'pg', 'redis']));
    expect(o.notes).toEqual(['--attach: default faults kill, stop, leader-stop left out (they need worker processes the flood started)']);
  });

  it('refuses process faults asked for by name', () => {
    expect(() => parseOptions(['--attach', '--faults', 'kill,conn'], {})).toThrow(new UsageError('--attach cannot kill: those faults need worker processes the flood started; pass --faults without them (e.g. --faults conn,pg,redis)'));
  });

  it('changes nothing for a flood that starts its own workers', () => {
    const o = parseOptions(['--commands', '5000'], {}) as FloodOptions;
    expect(o.faults.map((f) => f.kind)).toEqual(expect.arrayContaining(['kill', 'stop', 'leader-stop']));
    expect(o.notes).toEqual([]);
  });
});

describe('flood options with --cluster', () => {
  it('adds the node faults to the defaults on a cluster, and only there', () => {
    const plain = (parseOptions(['--commands', '5000'], {}) as FloodOptions).faults.map((f) => f.kind);
    expect(plain).not.toContain('node');
    expect(plain).not.toContain('rolling-restart');
    const o = parseOptions(['--cluster', '/tmp/c', '--commands', '5000'], {}) as FloodOptions;
    expect(o.cluster).toBe('/tmp/c');
    expect(o.faults).toEqual(expect.arrayContaining([{ kind: 'node', count: 2 }, { kind: 'rolling-restart', count: 1 }, { kind: 'kill', count: 6 }]));
  });

  it('keeps a fault list given by name as it is', () => {
    const o = parseOptions(['--cluster', '/tmp/c', '--faults', 'node=1'], {}) as FloodOptions;
    expect(o.faults).toEqual([{ kind: 'node', count: 1 }]);
  });

  it('refuses node faults without a cluster, and a cluster with --attach', () => {
    expect(() => parseOptions(['--faults', 'kill,rolling-restart'], {})).toThrow(new UsageError('--faults rolling-restart: stopping RabbitMQ nodes needs a cluster (--cluster DIR)'));
    expect(() => parseOptions(['--cluster', '/tmp/c', '--attach'], {})).toThrow(UsageError);
  });
});
