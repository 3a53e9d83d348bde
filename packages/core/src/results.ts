/**
 * Fresh Float32Arrays for an engine's results, zero-filled. Small ones are carved from a shared 64 KiB
 * slab, as Node's Buffer pool does: a one-step push returns a few hundred floats, and an ArrayBuffer of
 * its own per push cost more than the push's JavaScript (its allocation and, mostly, its garbage
 * collection). Each region is handed out once and never written by an engine afterwards; the cost is that
 * small results of different calls may share one ArrayBuffer (`.buffer` is bigger than the array, and
 * transferring it moves them all).
 */
const SLAB_BYTES = 64 * 1024;
/** Results of up to this many bytes share slabs; larger ones get an ArrayBuffer of their own. */
const SHARED_BYTES = 4 * 1024;

let slab: ArrayBuffer | null = null;
let slabUsed = 0;

/** One fresh array per length, adjacent in one buffer. */
export function resultArrays(...lengths: number[]): Float32Array[] {
  let bytes = 0;
  for (const n of lengths) bytes += n * 4;
  let buffer: ArrayBuffer;
  let at: number;
  if (bytes > SHARED_BYTES) {
    buffer = new ArrayBuffer(bytes);
    at = 0;
  } else {
    if (slab === null || slabUsed + bytes > SLAB_BYTES) {
      slab = new ArrayBuffer(SLAB_BYTES);
      slabUsed = 0;
    }
    buffer = slab;
    at = slabUsed;
    slabUsed += bytes;
  }
  const arrays: Float32Array[] = [];
  for (const n of lengths) {
    arrays.push(new Float32Array(buffer, at, n));
    at += n * 4;
  }
  return arrays;
}
