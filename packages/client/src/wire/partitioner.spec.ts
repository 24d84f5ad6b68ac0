import { fmix32, fnv1a32, partitionLabel, partitionOf } from './partitioner';

describe('partitioner', () => {
  it('is stable: these vectors must never change (they decide where history lives)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(fmix32(0)).toBe(0);
    expect(partitionOf('a', 16)).toBe(3);
    expect(partitionOf('foobar', 16)).toBe(12);
    expect(fnv1a32('sku-1:wh-1')).toBe(0x427cf64b);
    expect(fnv1a32('order-42')).toBe(0x572446f4);
    expect(partitionOf('sku-1:wh-1', 16)).toBe(12);
    expect(partitionOf('order-42', 16)).toBe(7);
    // Keys beyond ASCII hash their UTF-8 bytes, wherever the first non-ASCII character is.
    expect(fnv1a32('sku-é:wh-1')).toBe(0x4129c298);
    expect(fnv1a32('ключ-7')).toBe(0x4fc701e9);
    expect(fnv1a32('😀')).toBe(0x33a29608);
    expect(fnv1a32('a\u0080')).toBe(0x7cd3d51e);
  });

  it('spreads 100k keys over 16 partitions within ±5% of even', () => {
    for (const make of [(i: number) => `order-${i}`, (i: number) => `sku-${i % 997}:wh-${Math.floor(i / 997)}`]) {
      const counts = new Array<number>(16).fill(0);
      for (let i = 0; i < 100_000; i++) counts[partitionOf(make(i), 16)]!++;
      const even = 100_000 / 16;
      for (const c of counts) expect(Math.abs(c - even) / even).toBeLessThan(0.05);
    }
  });

  it('separates keys that differ only in a high nibble (plain FNV-1a mod 16 would not)', () => {
    expect(fnv1a32('sku-a') % 16).toBe(fnv1a32('sku-q') % 16);
    const spread = new Set(['a', 'q', 'A', 'Q', '1', 'A'].map((c) => partitionOf(`sku-${c}`, 16)));
    expect(spread.size).toBeGreaterThan(1);
  });

  it('labels partitions with a fixed width', () => {
    expect(partitionLabel(7, 16)).toBe('07');
    expect(partitionLabel(7, 200)).toBe('007');
    expect(partitionLabel(0, 1)).toBe('00');
  });

  it('refuses a nonsensical partition count', () => {
    expect(() => partitionOf('k', 0)).toThrow(RangeError);
  });
});
