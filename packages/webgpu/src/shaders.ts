/**
 * The WGSL kernels. Model constants (H, D, the activation) are written into the source, so each model
 * compiles its own modules once; what changes per call (L, N, the step) comes in uniforms.
 */

/** Output tile of one GEMM workgroup (GEMM_TILE × GEMM_TILE), 16×16 invocations each computing 4×4. */
export const GEMM_TILE = 64;
/** Invocations per recurrence workgroup, along the hidden units. */
export const RECUR_WORKGROUP = 64;
/** Bytes between two uniform slots: WebGPU's minUniformBufferOffsetAlignment is at most 256. */
export const UNIFORM_SLOT = 256;

/**
 * WGSL's tanh is only as precise as sinh/cosh (and NaN for large inputs on some drivers). This one is
 * within a few float32 ulps: a Taylor series near zero (no cancellation), 1 − 2/(e^{2|x|}+1) elsewhere.
 */
const TANH = /* wgsl */ `
// NaN must propagate as in PyTorch; tested on the bits, which no compiler's finite-math assumption removes.
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }

fn tanh_exact(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let a = abs(x);
  if (a < 0.5) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-0.333333333333 + x2 * (0.133333333333 + x2 * (-0.0539682539683 + x2 * (0.0218694885362
      + x2 * (-0.00886323552990 + x2 * (0.00359212803657 + x2 * (-0.00145583438705 + x2 * 0.000590027440946))))))));
  }
  // tanh(20) rounds to 1 in float32; the clamp keeps exp finite.
  let e = exp(2.0 * min(a, 20.0));
  return sign(x) * (1.0 - 2.0 / (e + 1.0));
}
`;

/**
 * C (M, Nc) = A (M, K) · B (Nc, K)ᵀ + bias (Nc). B is a PyTorch weight (rows = outputs), so both
 * operands are read along K. Tiles of A and B go through workgroup memory stored k-major, so the inner
 * loop reads four rows and four columns as contiguous runs.
 */
export function gemmShader(): string {
  return /* wgsl */ `
struct Dims { M: u32, N: u32, K: u32, pad: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;

const TILE = ${GEMM_TILE}u;
const TK = 16u;
var<workgroup> As: array<f32, ${GEMM_TILE * 16}>;  // As[k * TILE + m]
var<workgroup> Bs: array<f32, ${GEMM_TILE * 16}>;  // Bs[k * TILE + n]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let M = dims.M;
  let N = dims.N;
  let K = dims.K;
  let row0 = wg.y * TILE;
  let col0 = wg.x * TILE;
  // Row lid.y + 16·i, columns lid.x + 16·(0, 1, 2, 3): spread out so that stores are contiguous.
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k0 = 0u; k0 < K; k0 += TK) {
    // 256 invocations load 64×16 values of each tile, 4 each, consecutive invocations along k.
    for (var i = 0u; i < 4u; i++) {
      let e = li + i * 256u;
      let r = e / TK;
      let k = e % TK;
      let gk = k0 + k;
      var a = 0.0;
      if (row0 + r < M && gk < K) { a = A[(row0 + r) * K + gk]; }
      As[k * TILE + r] = a;
      var b = 0.0;
      if (col0 + r < N && gk < K) { b = B[(col0 + r) * K + gk]; }
      Bs[k * TILE + r] = b;
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      let ak = k * TILE + lid.y;
      let bk = k * TILE + lid.x;
      let a = vec4f(As[ak], As[ak + 16u], As[ak + 32u], As[ak + 48u]);
      let b = vec4f(Bs[bk], Bs[bk + 16u], Bs[bk + 32u], Bs[bk + 48u]);
      acc0 = fma(vec4f(a.x), b, acc0);
      acc1 = fma(vec4f(a.y), b, acc1);
      acc2 = fma(vec4f(a.z), b, acc2);
      acc3 = fma(vec4f(a.w), b, acc3);
    }
    workgroupBarrier();
  }
  store(row0 + lid.y, col0 + lid.x, acc0);
  store(row0 + lid.y + 16u, col0 + lid.x, acc1);
  store(row0 + lid.y + 32u, col0 + lid.x, acc2);
  store(row0 + lid.y + 48u, col0 + lid.x, acc3);
}

fn store(m: u32, n0: u32, values: vec4f) {
  if (m >= dims.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let n = n0 + 16u * j;
    if (n < dims.N) { C[m * dims.N + n] = values[j] + bias[n]; }
  }
}
`;
}

/**
 * One timestep of one layer, both directions in the same dispatch (global id z = direction):
 *
 *     h_t = act(projected_t + h_prev · W_hhᵀ)     (projected_t = x_t · W_ihᵀ + b_ih + b_hh)
 *
 * The forward direction is at t = step, the reverse one at t = L−1−step. An element whose length
 * does not reach t keeps its state and outputs zero there, so the reverse direction of a short
 * element starts from h0 at its own last step (PackedSequence semantics).
 */
export function recurrenceShader(H: number, D: number, nonlinearity: 'tanh' | 'relu'): string {
  const act = nonlinearity === 'tanh' ? 'tanh_exact(v)' : 'select(max(v, 0.0), v, is_nan(v))';
  return /* wgsl */ `
struct Step { step: u32, L: u32, N: u32, pad: u32 }
@group(0) @binding(0) var<uniform> s: Step;
@group(0) @binding(1) var<storage, read> W_hhT: array<f32>;     // (D, H, H): W_hhT[d][k][j] = W_hh[d][j][k]
@group(0) @binding(2) var<storage, read> projected: array<f32>; // (L, N, D·H)
@group(0) @binding(3) var<storage, read> lengths: array<u32>;   // (N)
@group(0) @binding(4) var<storage, read> h_prev: array<f32>;    // (D, N, H)
@group(0) @binding(5) var<storage, read_write> h_next: array<f32>;
@group(0) @binding(6) var<storage, read_write> output: array<f32>; // (L, N, D·H)

const H = ${H}u;
const D = ${D}u;
${TANH}
fn act(v: f32) -> f32 { return ${act}; }

@compute @workgroup_size(${RECUR_WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3u) {
  let j = id.x;
  let b = id.y;
  let d = id.z;
  if (j >= H) { return; }
  let N = s.N;
  var t = s.step;
  if (d == 1u) { t = s.L - 1u - s.step; }
  let state = (d * N + b) * H;
  let o = (t * N + b) * D * H + d * H + j;
  if (t >= lengths[b]) {
    h_next[state + j] = h_prev[state + j];
    output[o] = 0.0;
    return;
  }
  var sum = 0.0;
  let w = d * H * H + j;
  for (var k = 0u; k < H; k++) { sum = fma(h_prev[state + k], W_hhT[w + k * H], sum); }
  let h = act(projected[o] + sum);
  h_next[state + j] = h;
  output[o] = h;
}
`;
}

/** Invocations of the persistent kernel's workgroup: one per unit of work up to 256, at least 32. */
export function persistentWorkgroupSize(units: number): number {
  return units <= 32 ? 32 : units <= 64 ? 64 : units <= 128 ? 128 : 256;
}

/**
 * The whole recurrence of one layer in one dispatch: workgroup (b, d) owns one sequence in one
 * direction and loops over all L steps, its state h in workgroup memory (ping-pong halves). Sequences
 * and directions never read each other's state, so no step needs a device-wide barrier: one
 * workgroupBarrier per step is all.
 *
 * When H is a multiple of 4, each invocation computes four consecutive hidden units with vec4 loads of
 * W_hhT, projected and output (four multiply-adds per load); otherwise one unit, k unrolled by 4.
 */
export function persistentRecurrenceShader(H: number, D: number, nonlinearity: 'tanh' | 'relu'): string {
  const act = nonlinearity === 'tanh' ? 'tanh_exact(v)' : 'select(max(v, 0.0), v, is_nan(v))';
  const vec4 = H % 4 === 0;
  const WG = persistentWorkgroupSize(vec4 ? H / 4 : H);
  const F = vec4 ? 'vec4f' : 'f32';
  const units = vec4 ? 'H / 4u' : 'H';
  const step = vec4
    ? /* wgsl */ `
      for (var g = li; g < ${units}; g += WG) {
        // h_prev · W_hhᵀ for units 4g … 4g+3: W_hhT[d][k] holds row k of W_hhᵀ as H/4 vec4s.
        var acc = vec4f(0.0);
        let w = d * H * (H / 4u) + g;
        for (var k = 0u; k < H; k++) { acc = fma(vec4f(h[hp + k]), W_hhT[w + k * (H / 4u)], acc); }
        let p = projected[o + g] + acc;
        let v = vec4f(act(p.x), act(p.y), act(p.z), act(p.w));
        h[next + 4u * g] = v.x;
        h[next + 4u * g + 1u] = v.y;
        h[next + 4u * g + 2u] = v.z;
        h[next + 4u * g + 3u] = v.w;
        output[o + g] = v;
      }`
    : /* wgsl */ `
      for (var j = li; j < H; j += WG) {
        // Four partial sums: independent loads and multiply-adds in flight (h_prev · W_hhᵀ, column j).
        var s4 = vec4f(0.0);
        let w = d * H * H + j;
        var k = 0u;
        for (; k + 4u <= H; k += 4u) {
          let hk = vec4f(h[hp + k], h[hp + k + 1u], h[hp + k + 2u], h[hp + k + 3u]);
          let wk = vec4f(W_hhT[w + k * H], W_hhT[w + (k + 1u) * H], W_hhT[w + (k + 2u) * H], W_hhT[w + (k + 3u) * H]);
          s4 = fma(hk, wk, s4);
        }
        var sum = (s4.x + s4.y) + (s4.z + s4.w);
        for (; k < H; k++) { sum = fma(h[hp + k], W_hhT[w + k * H], sum); }
        let v = act(projected[o + j] + sum);
        h[next + j] = v;
        output[o + j] = v;
      }`;
  return /* wgsl */ `
struct Layer { L: u32, N: u32, stateOffset: u32, pad: u32 }
@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> W_hhT: array<${F}>;     // (D, H, H): W_hhT[d][k][j] = W_hh[d][j][k]
@group(0) @binding(2) var<storage, read> projected: array<${F}>; // (L, N, D·H)
@group(0) @binding(3) var<storage, read> lengths: array<u32>;   // (N)
@group(0) @binding(4) var<storage, read> h0: array<f32>;        // (layers·D, N, H)
@group(0) @binding(5) var<storage, read_write> hN: array<f32>;  // (layers·D, N, H)
@group(0) @binding(6) var<storage, read_write> output: array<${F}>; // (L, N, D·H)

const H = ${H}u;
const D = ${D}u;
const WG = ${WG}u;
var<workgroup> h: array<f32, ${2 * H}>;
${TANH}
fn act(v: f32) -> f32 { return ${act}; }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let b = wg.x;
  let d = wg.y;
  let L = layer.L;
  let N = layer.N;
  let len = lengths[b];
  let state = layer.stateOffset + (d * N + b) * H;
  for (var j = li; j < H; j += WG) { h[j] = h0[state + j]; }
  workgroupBarrier();
  var cur = 0u;
  for (var s = 0u; s < L; s++) {
    var t = s;
    if (d == 1u) { t = L - 1u - s; }
    // Offset of (t, b, direction d) in output and projected, in elements of their arrays.
    let o = ((t * N + b) * D * H + d * H)${vec4 ? ' / 4u' : ''};
    if (t < len) {
      let next = (1u - cur) * H;
      let hp = cur * H;${step}
      cur = 1u - cur;
    } else {
      // Past this sequence's length: zero output, state kept (the reverse direction starts later).
      for (var i = li; i < ${units}; i += WG) { output[o + i] = ${F}(0.0); }
    }
    workgroupBarrier();
  }
  for (var j = li; j < H; j += WG) { hN[state + j] = h[cur * H + j]; }
}
`;
}
