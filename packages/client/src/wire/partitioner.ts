/**
 * Stable partitioning, computed by the publisher: partition = fmix32(fnv1a32(utf8(key))) mod N.
 *
 * FNV-1a alone is not enough here: its low bits depend only on the low bits of each input
 * byte, so with N a power of two keys differing in one character's high nibble ('a' vs 'q')
 * always collide. murmur3's 32-bit finalizer mixes every bit into the low ones. The function
 * must never change: it decides where every key's history lives. Test vectors are in
 * docs/publishing.md and partitioner.spec.ts.
 */
export function fnv1a32(input: string): number {
  let hash = 0x811c9dc5;
  // An ASCII key is its own UTF-8: hashed from its char codes, without a Buffer per call (every
  // emitted message hashes its key twice, for its partition and its relay shard).
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c > 0x7f) return fnv1a32Utf8(input);
    hash ^= c;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function fnv1a32Utf8(input: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(input, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function partitionOf(key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  return fmix32(fnv1a32(key)) % partitions;
}

/** Zero-padded label used in queue names and routing keys: p07 of 16, p007 of 200. */
export function partitionLabel(partition: number, partitions: number): string {
  return String(partition).padStart(Math.max(2, String(partitions - 1).length), '0');
}
