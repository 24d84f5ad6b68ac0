import { helpText, parseOptions, type FloodOptions } from '../options';
import { PRESETS } from './profiles';

function parse(argv: string[]): FloodOptions {
  const o = parseOptions(argv, {});
  if (o === 'help') throw new Error('help');
  return o;
}

describe('--profile and soak options', () => {
  it('applies the preset before explicit options, wherever it stands', () => {
    const o = parse(['--hot-share', '0.5', '--profile', 'hot-key']);
    expect(o.profile).toBe('hot-key');
    expect(o.hotKeys).toBe(PRESETS['hot-key'].hotKeys);
    expect(o.hotShare).toBe(0.5);
    expect(o.mix).toEqual(PRESETS['hot-key'].mix);
  });

  it('read-heavy turns the readers on; --reads-per-sec overrides them', () => {
    expect(parse(['--profile=read-heavy']).readsPerSec).toBe(100);
    expect(parse(['--profile', 'read-heavy', '--reads-per-sec', '7']).readsPerSec).toBe(7);
    expect(parse([]).readsPerSec).toBe(0);
  });

  it('rejects an unknown profile', () => {
    expect(() => parse(['--profile', 'bursty'])).toThrow(/one of mixed, read-heavy, write-heavy, hot-key/);
  });

  it('a --duration run has no command limit unless one is given', () => {
    expect(parse(['--duration', '30m']).commands).toBe(0);
    expect(parse(['--duration', '30m', '--commands', '5000']).commands).toBe(5000);
    expect(parse([]).commands).toBe(100_000);
    expect(parse(['--duration', '1m', '--warmup', '10s']).warmupMs).toBe(10_000);
  });

  it('--help documents the new options', () => {
    for (const name of ['--profile', '--reads-per-sec', '--warmup']) expect(helpText()).toContain(name);
  });
});
