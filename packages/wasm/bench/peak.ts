// The 128-bit multiply-add peak of one core, for bench.mjs to put the GEMM figures in proportion: ten
// independent f32x4.relaxed_madd chains (enough to cover the instruction's latency), no memory access.
// Compiled by bench.mjs with `asc --enable simd --enable relaxed-simd`; 80 FLOP per iteration.
export function peak(iterations: i32): f32 {
  let a0 = f32x4.splat(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
  const x = f32x4.splat(0.999), y = f32x4.splat(0.0001);
  for (let i = 0; i < iterations; i++) {
    a0 = f32x4.relaxed_madd(a0, x, y); a1 = f32x4.relaxed_madd(a1, x, y);
    a2 = f32x4.relaxed_madd(a2, x, y); a3 = f32x4.relaxed_madd(a3, x, y);
    a4 = f32x4.relaxed_madd(a4, x, y); a5 = f32x4.relaxed_madd(a5, x, y);
    a6 = f32x4.relaxed_madd(a6, x, y); a7 = f32x4.relaxed_madd(a7, x, y);
    a8 = f32x4.relaxed_madd(a8, x, y); a9 = f32x4.relaxed_madd(a9, x, y);
  }
  const sum = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(f32x4.add(a6, a7), f32x4.add(a8, a9))));
  return f32x4.extract_lane(sum, 0);
}
