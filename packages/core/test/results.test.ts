import { describe, expect, it } from 'vitest';
import { resultArrays } from '../src/index.js';

describe('resultArrays: fresh arrays for engine results', () => {
  it('hands out zeroed, non-overlapping regions, small ones from a shared slab', () => {
    const first = resultArrays(3, 5, 0);
    const second = resultArrays(4);
    expect(first.map((a) => a.length)).toEqual([3, 5, 0]);
    for (const a of [...first, ...second]) expect(Array.from(a).every((v) => v === 0)).toBe(true);
    first[0]!.fill(1);
    first[1]!.fill(2);
    second[0]!.fill(3);
    expect(Array.from(first[0]!)).toEqual([1, 1, 1]);
    expect(Array.from(first[1]!)).toEqual([2, 2, 2, 2, 2]);
    expect(first[1]!.byteOffset).toBe(first[0]!.byteOffset + 12); // adjacent, in order
    expect(second[0]!.buffer).toBe(first[0]!.buffer);
    expect(second[0]!.byteOffset).toBeGreaterThanOrEqual(first[1]!.byteOffset + 20);
  });

  it('gives a large result a buffer of its own, and starts a new slab when one is full', () => {
    const [large] = resultArrays(10_000);
    expect(large!.buffer.byteLength).toBe(40_000);
    const seen = new Set<ArrayBufferLike>();
    for (let i = 0; i < 100; i++) seen.add(resultArrays(1000)[0]!.buffer);
    expect(seen.size).toBeGreaterThan(1); // 100 × 4 KB do not fit one 64 KiB slab
  });
});
