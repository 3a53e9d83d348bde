/**
 * PyTorch's float32 arithmetic in JavaScript numbers. Every operation of a float32 tensor rounds its
 * result to float32 once: `Math.fround` after a double operation gives exactly that for +, −, ×, ÷ and
 * √ of float32 operands (a double holds the exact product, and double rounding is harmless for these).
 * PyTorch's scalar arguments (python floats) reach a float32 kernel rounded to float32: `f32(lr)`.
 */
export const f32 = Math.fround;

/**
 * a·b + c rounded once, as PyTorch's CPU kernels compute `add(other, alpha)` and `addcmul` (their loops
 * are compiled to fused multiply-adds, in the vector body and in the tail alike). a·b is exact in a
 * double; s = a·b + c is rounded to double, and only when s falls exactly halfway between two float32
 * values can that first rounding decide the second one: then the exact sum's side of s settles it.
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f32(s);
  const half = s - r; // exact: r is s with fewer bits
  if (half === 0 || !Number.isFinite(s)) return r;
  const other = r + 2 * half; // the neighbouring float32 when s is a midpoint
  if (f32(other) !== other) return r;
  const v = s - p; // two-sum: err = p + c − s exactly
  const err = p - (s - v) + (c - v);
  if (err === 0) return r; // a true tie: fround rounded it half to even, as float32 hardware does
  return Math.sign(err) === Math.sign(half) ? other : r;
}
