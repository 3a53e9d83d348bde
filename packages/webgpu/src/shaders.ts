/**
 * The WGSL kernels. Model constants (sizes, the module's cell) are written into the source, so each
 * model compiles its own modules once; what changes per call (L, N, the step) comes in uniforms.
 *
 * One structure serves RNN, LSTM and GRU: the projection GEMM is the same for all; the recurrence
 * kernels compute h_{t-1}·W_hhᵀ for all G gates of a hidden unit, then the module's cell (cellCode)
 * updates that unit; a projected LSTM adds h_t = (o ⊙ tanh(c_t))·W_hrᵀ.
 */
import type { ModelPlan } from '@recurrent/core';

/** Output tile of one GEMM workgroup (GEMM_TILE × GEMM_TILE), 16×16 invocations each computing 4×4. */
export const GEMM_TILE = 64;
/** Invocations per workgroup of the per-step kernels, along the hidden units. */
export const RECUR_WORKGROUP = 64;
/** Bytes between two uniform slots: WebGPU's minUniformBufferOffsetAlignment is at most 256. */
export const UNIFORM_SLOT = 256;

/** What the recurrence kernels are generated from (a ModelPlan has it all). */
export type CellShape = Pick<ModelPlan, 'mode' | 'nonlinearity' | 'gates' | 'hiddenSize' | 'outputSize' | 'projSize' | 'numDirections'>;

/** The buffers a recurrence kernel can bind; the host binds them by these names. */
export type Resource =
  | 'W_hhT'
  | 'b_hn'
  | 'W_hrT'
  | 'projected'
  | 'lengths'
  | 'state0'
  | 'stateN'
  | 'state_prev'
  | 'state_next'
  | 'u'
  | 'output';

/** A storage buffer a kernel binds (the forward's by Resource names, the backward's by its own). */
export interface Binding<Name extends string = Resource> {
  name: Name;
  /** WGSL element type of the array. */
  type: 'f32' | 'vec4f' | 'u32';
  writable: boolean;
  /** Its layout, for the reader of the generated source. */
  doc: string;
}

/** A generated kernel: binding 0 is a uniform slot (dynamic offset), bindings 1… are `bindings`. */
export interface Kernel<Name extends string = Resource> {
  code: string;
  bindings: Binding<Name>[];
}

/**
 * WGSL's tanh is only as precise as sinh/cosh (and NaN for large inputs on some drivers); its exp is
 * only accurate to a few ulps per unit of |x| and may be NaN rather than Inf past overflow. These are
 * within a few float32 ulps, saturate exactly, and propagate NaN as PyTorch does.
 */
const ACTIVATIONS = /* wgsl */ `
// Tested on the bits, which no compiler's finite-math assumption removes.
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }

// e^x to about one ulp whatever the driver's exp: x = k·ln2 + r (Cody–Waite: ln2 in two parts, the first
// with few enough bits that k·ln2_hi is exact), e^r by its Taylor series to r^7 (|r| ≤ ln2/2).
fn exp_exact(x: f32) -> f32 {
  let k = round(x * 1.44269504089);
  let r = (x - k * 0.693145751953125) - k * 1.42860676533e-6;
  let p = 1.0 + r * (1.0 + r * (0.5 + r * (0.166666666667 + r * (0.0416666666667 + r * (0.00833333333333
    + r * (0.00138888888889 + r * 0.000198412698413))))));
  return ldexp(p, i32(k));
}

// A Taylor series near zero (no cancellation), 1 − 2/(e^{2|x|}+1) elsewhere.
fn tanh_exact(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let a = abs(x);
  if (a < 0.5) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-0.333333333333 + x2 * (0.133333333333 + x2 * (-0.0539682539683 + x2 * (0.0218694885362
      + x2 * (-0.00886323552990 + x2 * (0.00359212803657 + x2 * (-0.00145583438705 + x2 * 0.000590027440946))))))));
  }
  // tanh(20) rounds to 1 in float32; the clamp keeps exp finite.
  let e = exp_exact(2.0 * min(a, 20.0));
  return sign(x) * (1.0 - 2.0 / (e + 1.0));
}

// exp stays finite (e^88 < 3.4e38); past ±88, σ is 0 or 1 to within 1e-38.
fn sigmoid_exact(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  return 1.0 / (1.0 + exp_exact(-clamp(x, -88.0, 88.0)));
}

fn relu_exact(x: f32) -> f32 { return select(max(x, 0.0), x, is_nan(x)); }
`;

/** tanhF, sigmoidF, reluF on the kernel's element type F (f32, or vec4f lane by lane). */
export function activationsOf(F: 'f32' | 'vec4f'): string {
  const lift = (name: string) =>
    F === 'f32'
      ? `fn ${name}F(v: f32) -> f32 { return ${name}_exact(v); }`
      : `fn ${name}F(v: vec4f) -> vec4f { return vec4f(${name}_exact(v.x), ${name}_exact(v.y), ${name}_exact(v.z), ${name}_exact(v.w)); }`;
  return `${ACTIVATIONS}\n${['tanh', 'sigmoid', 'relu'].map(lift).join('\n')}\n`;
}

/**
 * The module's cell on one hidden unit (or four, F = vec4f): from x0… (x_t·W_ihᵀ + folded biases per
 * gate), a0… (h_{t-1}·W_hhᵀ per gate), h_prev and c_prev, it defines h (before any projection) and,
 * for an LSTM, c. PyTorch's formulas, in PyTorch's order of operations. `values` are the WGSL
 * expressions of this unit's h_{t-1}, c_{t-1} and b_hn.
 */
export function cellCode(shape: CellShape, values: { h_prev: string; c_prev: string; b_hn: string }): string {
  switch (shape.mode) {
    case 'rnn':
      return `let h = ${shape.nonlinearity}F(x0 + a0);`;
    case 'lstm':
      return `let i = sigmoidF(x0 + a0);
        let f = sigmoidF(x1 + a1);
        let g = tanhF(x2 + a2);
        let o = sigmoidF(x3 + a3);
        let c = f * ${values.c_prev} + i * g;
        let h = o * tanhF(c);`;
    case 'gru':
      // b_hn stays inside r ⊙ (…); PyTorch's h = n + z ⊙ (h_prev − n).
      return `let r = sigmoidF(x0 + a0);
        let z = sigmoidF(x1 + a1);
        let n = tanhF(x2 + r * (a2 + ${values.b_hn}));
        let h = n + z * (${values.h_prev} - n);`;
  }
}

/**
 * Statements that define a0 … a{G−1} (type F) = Σ_{k<K} src[s + k] · weights[w + k·row + q·gate].
 * With F = vec4f each weight load is four consecutive units; with f32, k is unrolled by 4 so that
 * four independent multiply-adds per gate are in flight.
 */
export function matvecCode(o: { G: number; F: 'f32' | 'vec4f'; src: string; s: string; weights: string; w: string; K: string; row: string; gate: string }): string {
  const gates = Array.from({ length: o.G }, (_, q) => q);
  const at = (k: string, q: number) => `${o.weights}[w + (${k}) * ${o.row}${q > 0 ? ` + ${q}u * ${o.gate}` : ''}]`;
  if (o.F === 'vec4f') {
    return `let w = ${o.w};
        ${gates.map((q) => `var a${q} = vec4f(0.0);`).join(' ')}
        for (var k = 0u; k < ${o.K}; k++) {
          let hk = vec4f(${o.src}[${o.s} + k]);
          ${gates.map((q) => `a${q} = fma(hk, ${at('k', q)}, a${q});`).join('\n          ')}
        }`;
  }
  const four = (q: number) => `vec4f(${[0, 1, 2, 3].map((i) => at(i === 0 ? 'k' : `k + ${i}u`, q)).join(', ')})`;
  return `let w = ${o.w};
        ${gates.map((q) => `var s${q} = vec4f(0.0);`).join(' ')}
        var k = 0u;
        for (; k + 4u <= ${o.K}; k += 4u) {
          let hk = vec4f(${o.src}[${o.s} + k], ${o.src}[${o.s} + k + 1u], ${o.src}[${o.s} + k + 2u], ${o.src}[${o.s} + k + 3u]);
          ${gates.map((q) => `s${q} = fma(hk, ${four(q)}, s${q});`).join('\n          ')}
        }
        ${gates.map((q) => `var a${q} = (s${q}.x + s${q}.y) + (s${q}.z + s${q}.w);`).join(' ')}
        for (; k < ${o.K}; k++) {
          ${gates.map((q) => `a${q} = fma(${o.src}[${o.s} + k], ${at('k', q)}, a${q});`).join('\n          ')}
        }`;
}

/** WGSL declarations of a kernel's uniform (binding 0, as `dims`) and its storage buffers (bindings 1…). */
export function declarations(uniform: string, bindings: Binding<string>[]): string {
  return [
    `@group(0) @binding(0) var<uniform> dims: ${uniform};`,
    ...bindings.map(
      (b, i) => `@group(0) @binding(${i + 1}) var<storage, ${b.writable ? 'read_write' : 'read'}> ${b.name}: array<${b.type}>; // ${b.doc}`,
    ),
  ].join('\n');
}

/** Rows of K a GEMM tile takes per pass through workgroup memory: pieces of a GEMM split K at multiples of it. */
export const GEMM_DEPTH = 16;

/** The tiled GEMMs' workgroup memory: tiles of A and B stored k-major. */
export const GEMM_TILES = `const TILE = ${GEMM_TILE}u;
const TK = ${GEMM_DEPTH}u;
var<workgroup> As: array<f32, ${GEMM_TILE * GEMM_DEPTH}>;  // As[k * TILE + m]
var<workgroup> Bs: array<f32, ${GEMM_TILE * GEMM_DEPTH}>;  // Bs[k * TILE + n]`;

/**
 * The body of a tiled GEMM entry point (@workgroup_size(16, 16), GEMM_TILES): the 64×64 tile of C at
 * rows row0…, columns col0…, each invocation the 4×4 values at rows row0 + lid.y + 16·i and columns
 * col0 + lid.x + 16·j (spread out so that stores are contiguous), each summed by fma over the rows
 * k0 … k1−1 of K in order, from `start(m, n0)`. The kernel defines row0 and col0 before it, and
 * loadA(m, k…), loadB(k, n…) (zero outside the operands) and store(m, n0…, values); `args` are the
 * arguments they take after those (e.g. ', z').
 */
export function gemmTileCode(o: { k0: string; k1: string; start: (m: string, n0: string) => string; args: string }): string {
  const rows = [0, 1, 2, 3].map((i) => `row0 + lid.y${i > 0 ? ` + ${16 * i}u` : ''}`);
  return `${rows.map((m, i) => `var acc${i} = ${o.start(m, 'col0 + lid.x')};`).join('\n  ')}
  for (var k0 = ${o.k0}; k0 < ${o.k1}; k0 += TK) {
    // 256 invocations load 64×16 values of each tile, 4 each, consecutive invocations along k.
    for (var i = 0u; i < 4u; i++) {
      let e = li + i * 256u;
      let r = e / TK;
      let k = e % TK;
      As[k * TILE + r] = loadA(row0 + r, k0 + k${o.args});
      Bs[k * TILE + r] = loadB(k0 + k, col0 + r${o.args});
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
  ${rows.map((m, i) => `store(${m}, col0 + lid.x${o.args}, acc${i});`).join('\n  ')}`;
}

/**
 * C (M, Nc) = A (M, K) · B (Nc, K)ᵀ + bias (Nc). B is a PyTorch weight (rows = outputs), so both
 * operands are read along K. Tiles of A and B go through workgroup memory stored k-major, so the inner
 * loop reads four rows and four columns as contiguous runs. Entry point `rows`: the same sums without
 * row tiles, for calls of a few rows.
 */
export function gemmShader(): string {
  return /* wgsl */ `
// Rows m0 … M−1 of C: a call split into blocks (see submit.ts) computes its rows a block at a time.
struct Dims { M: u32, N: u32, K: u32, m0: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;

${GEMM_TILES}

fn loadA(m: u32, k: u32) -> f32 {
  if (m >= dims.M || k >= dims.K) { return 0.0; }
  return A[m * dims.K + k];
}

fn loadB(k: u32, n: u32) -> f32 {
  if (n >= dims.N || k >= dims.K) { return 0.0; }
  return B[n * dims.K + k];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let row0 = dims.m0 + wg.y * TILE;
  let col0 = wg.x * TILE;
  ${gemmTileCode({ k0: '0u', k1: 'dims.K', start: () => 'vec4f(0.0)', args: '' })}
}

// Few rows (a stream's one-step push): a 64-row tile would be almost all padding. A workgroup per row
// and 64 columns, each invocation the four columns main's would take. Every C[m][n] is summed exactly
// as main sums it (fma over k in order from 0, zeros past K up to a multiple of TK, then + bias), so
// both give the same bits and a result never depends on which of them ran.
@compute @workgroup_size(16)
fn rows(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m = dims.m0 + wg.y;
  let col = wg.x * TILE + lid.x;
  var acc = vec4f(0.0);
  for (var k0 = 0u; k0 < dims.K; k0 += TK) {
    for (var k = k0; k < k0 + TK; k++) {
      var b = vec4f(0.0);
      for (var j = 0u; j < 4u; j++) { b[j] = loadB(k, col + 16u * j); }
      acc = fma(vec4f(loadA(m, k)), b, acc);
    }
  }
  store(m, col, acc);
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

/** Constants every recurrence kernel declares. */
export function constants(shape: CellShape): string {
  const { gates: G, hiddenSize: H, outputSize: Hout, projSize: P, numDirections: D } = shape;
  return `const G = ${G}u;   // gates per hidden unit
const H = ${H}u;   // hidden units (width of c)
const HO = ${Hout}u;  // width of h and of each direction's output
const P = ${P}u;   // projection size (0: none)
const D = ${D}u;`;
}

type StepForwardResource = 'W_hhT' | 'projected' | 'lengths' | 'output' | 'b_hn' | 'W_hrT';

/**
 * What a per-step forward (stepForwardCode, stepProjectCode) binds: W_hhT, projected, lengths, its
 * `states`, output, its `own`, then the GRU's b_hn and a projected LSTM's W_hrT.
 */
export function stepForwardBindings<Name extends string>(shape: CellShape, states: Binding<Name>[], own: Binding<Name>[]): Binding<Name | StepForwardResource>[] {
  const bindings: Binding<Name | StepForwardResource>[] = [
    { name: 'W_hhT', type: 'f32', writable: false, doc: '(D, HO, G·H): W_hhT[d][k][q·H + j] = W_hh[d][q·H + j][k]' },
    { name: 'projected', type: 'f32', writable: false, doc: '(L, N, D·G·H)' },
    { name: 'lengths', type: 'u32', writable: false, doc: '(N)' },
    ...states,
    { name: 'output', type: 'f32', writable: true, doc: '(L, N, D·HO)' },
    ...own,
  ];
  if (shape.mode === 'gru') bindings.push({ name: 'b_hn', type: 'f32', writable: false, doc: '(D, H): b_hh of gate n' });
  if (shape.projSize > 0) bindings.push({ name: 'W_hrT', type: 'f32', writable: false, doc: '(D, H, P): W_hrT[d][k][p] = W_hr[d][p][k]' });
  return bindings;
}

/**
 * An entry point of a per-step kernel (the forward's, the tape's, the backward's): one step of one
 * layer, both directions in the same dispatch. Invocation (x, y, z) takes `unit` x (up to `count`) of
 * element b = y in direction d = z, at t = step for the forward direction and t = L−1−step for the
 * reverse one (the uniform `dims` has step, L and N).
 */
export function perStepEntry(name: string, unit: string, count: string, body: string): string {
  return /* wgsl */ `
@compute @workgroup_size(${RECUR_WORKGROUP})
fn ${name}(@builtin(global_invocation_id) id: vec3u) {
  let ${unit} = id.x;
  if (${unit} >= ${count}) { return; }
  let b = id.y;
  let d = id.z;
  let N = dims.N;
  let t = select(dims.step, dims.L - 1u - dims.step, d == 1u);
  ${body}
}
`;
}

/** Where a step's states lie: `array`, from `offset` on ('' for 0). */
export interface StateArray {
  array: string;
  offset: string;
}

const index = (states: StateArray, at: string): string => (states.offset ? `${states.offset} + ${at}` : at);
const element = (states: StateArray, at: string): string => `${states.array}[${index(states, at)}]`;

/**
 * Where a per-step forward (the forward's own, the tape's) reads the states h_{t-1} (D, N, HO) and an
 * LSTM's c_{t-1} (D, N, H), and where it writes h_t and c_t.
 */
export interface StepStates {
  /** Statements the offsets need, after the step's position is known. */
  prelude: string;
  prev: StateArray;
  next: StateArray;
  /** Where c starts in both (h starts at 0). */
  cOffset: string;
}

/**
 * The `main` of a per-step forward: unit j's G gate sums (projected_t + h_{t-1}·W_hhᵀ), its cell
 * update, then `save` (statements that may read the cell's values) and the writes of c_t and h_t;
 * a projected LSTM's h goes to `unprojected` for `project`. An element whose length does not reach t
 * keeps its states and outputs zero there.
 */
export function stepForwardCode(shape: CellShape, states: StepStates, o: { save: string; unprojected: string }): string {
  const { mode, projSize: P } = shape;
  const lstm = mode === 'lstm';
  const prev = (at: string) => element(states.prev, at);
  const next = (at: string) => element(states.next, at);
  const gateSums = matvecCode({ G: shape.gates, F: 'f32', src: states.prev.array, s: index(states.prev, 'hs'), weights: 'W_hhT', w: 'd * HO * G * H + j', K: 'HO', row: '(G * H)', gate: 'H' });
  const x = Array.from({ length: shape.gates }, (_, q) => `let x${q} = projected[x + ${q}u * H];`).join(' ');
  return perStepEntry('main', 'j', 'H', `${states.prelude}
  let hs = (d * N + b) * HO;
  let cs = ${states.cOffset} + (d * N + b) * H;
  let out = (t * N + b) * D * HO + d * HO + j;
  if (t >= lengths[b]) {
    ${P > 0 ? '' : `${next('hs + j')} = ${prev('hs + j')};
    output[out] = 0.0;`}
    ${lstm ? `${next('cs + j')} = ${prev('cs + j')};` : ''}
    return;
  }
  let x = ((t * N + b) * D + d) * G * H + j;
  ${x}
  ${gateSums}
  ${lstm ? `let c_prev = ${prev('cs + j')};` : ''}
  ${cellCode(shape, { h_prev: prev('hs + j'), c_prev: 'c_prev', b_hn: 'b_hn[d * H + j]' })}
  ${o.save}
  ${lstm ? `${next('cs + j')} = c;` : ''}
  ${P > 0 ? `${o.unprojected} = h;` : `${next('hs + j')} = h;
  output[out] = h;`}`);
}

/** The `project` of a projected LSTM's per-step forward: h_t = u · W_hrᵀ for output p, u the H floats of `u`. */
export function stepProjectCode(states: StepStates, u: StateArray): string {
  const prev = (at: string) => element(states.prev, at);
  const next = (at: string) => element(states.next, at);
  return perStepEntry('project', 'p', 'P', `${states.prelude}
  let hs = (d * N + b) * HO;
  let out = (t * N + b) * D * HO + d * HO + p;
  if (t >= lengths[b]) {
    ${next('hs + p')} = ${prev('hs + p')};
    output[out] = 0.0;
    return;
  }
  let us = ${u.offset};
  ${matvecCode({ G: 1, F: 'f32', src: u.array, s: 'us', weights: 'W_hrT', w: 'd * H * P + p', K: 'H', row: 'P', gate: '0u' })}
  ${next('hs + p')} = a0;
  output[out] = a0;`);
}

/**
 * One timestep of one layer, both directions in the same dispatch (global id z = direction), one
 * hidden unit per invocation. `main` computes all G gate sums of unit j and its cell update:
 *
 *     gates = projected_t + h_prev · W_hhᵀ     (projected_t = x_t · W_ihᵀ + b_ih + b_hh, b_hn excepted)
 *
 * For a projected LSTM `main` leaves u = o ⊙ tanh(c_t) and a second dispatch, `project`, computes
 * h_t = u · W_hrᵀ. The forward direction is at t = step, the reverse one at t = L−1−step. An element
 * whose length does not reach t keeps its states and outputs zero there, so the reverse direction of a
 * short element starts from h0 (c0) at its own last step (PackedSequence semantics).
 */
export function recurrenceShader(shape: CellShape): Kernel {
  const { projSize: P } = shape;
  const bindings: Binding[] = stepForwardBindings<Resource>(shape, [
    { name: 'state_prev', type: 'f32', writable: false, doc: 'h (D, N, HO), then an LSTM\'s c (D, N, H) at dims.cOffset' },
    { name: 'state_next', type: 'f32', writable: true, doc: 'the same' },
  ], []);
  if (P > 0) bindings.push({ name: 'u', type: 'f32', writable: true, doc: '(D, N, H): o ⊙ tanh(c_t), before the projection' });
  const states: StepStates = { prelude: '', prev: { array: 'state_prev', offset: '' }, next: { array: 'state_next', offset: '' }, cOffset: 'dims.cOffset' };
  return {
    bindings,
    code: /* wgsl */ `
struct Step { step: u32, L: u32, N: u32, cOffset: u32 }
${declarations('Step', bindings)}

${constants(shape)}
${activationsOf('f32')}
${stepForwardCode(shape, states, { save: '', unprojected: 'u[(d * N + b) * H + j]' })}
${P > 0 ? stepProjectCode(states, { array: 'u', offset: '(d * N + b) * H' }) : ''}`,
  };
}

/** Invocations of the persistent kernel's workgroup: one per unit of work up to 256, at least 32. */
export function persistentWorkgroupSize(units: number): number {
  return units <= 32 ? 32 : units <= 64 ? 64 : units <= 128 ? 128 : 256;
}

/** Floats the persistent kernel keeps in workgroup memory: h (ping-pong), c for an LSTM, u when projected. */
export function persistentWorkgroupFloats(shape: CellShape): number {
  return 2 * shape.outputSize + (shape.mode === 'lstm' ? shape.hiddenSize : 0) + (shape.projSize > 0 ? shape.hiddenSize : 0);
}

/**
 * The whole recurrence of one layer in one dispatch (or one per block of steps when the call can be
 * cancelled): workgroup (b, d) owns one sequence in one direction and loops over the steps, its states
 * in workgroup memory (h in ping-pong halves; c and u are only ever touched by the invocation that owns
 * their unit). Sequences and directions never read
 * each other's state, so no step needs a device-wide barrier: one workgroupBarrier per step (two for
 * a projected LSTM: u must be complete before h_t = u · W_hrᵀ).
 *
 * Each invocation computes whole hidden units, all G gate sums and then the cell update, so gates need
 * no barrier between them. When H is a multiple of 4, an invocation takes four consecutive units with
 * vec4 loads of W_hhT and projected (four multiply-adds per load); otherwise one unit, k unrolled by 4.
 */
export function persistentRecurrenceShader(shape: CellShape): Kernel {
  const { mode, gates: G, hiddenSize: H, outputSize: Hout, projSize: P } = shape;
  const lstm = mode === 'lstm';
  const vec4 = H % 4 === 0;
  const F = vec4 ? 'vec4f' : 'f32';
  const units = vec4 ? H / 4 : H;
  // The projection vectorises over its outputs on its own condition.
  const vecP = P % 4 === 0;
  const projectionUnits = vecP ? P / 4 : P;
  const WG = persistentWorkgroupSize(Math.max(units, projectionUnits, 1));
  const bindings: Binding[] = [
    { name: 'W_hhT', type: F, writable: false, doc: '(D, HO, G·H): W_hhT[d][k][q·H + j] = W_hh[d][q·H + j][k]' },
    { name: 'projected', type: F, writable: false, doc: '(L, N, D·G·H)' },
    { name: 'lengths', type: 'u32', writable: false, doc: '(N)' },
    { name: 'state0', type: 'f32', writable: false, doc: 'h0 (layers·D, N, HO), then an LSTM\'s c0 (layers·D, N, H)' },
    { name: 'stateN', type: 'f32', writable: true, doc: 'h_n and c_n, the same way' },
    { name: 'output', type: 'f32', writable: true, doc: '(L, N, D·HO)' },
  ];
  if (mode === 'gru') bindings.push({ name: 'b_hn', type: F, writable: false, doc: '(D, H): b_hh of gate n' });
  if (P > 0) bindings.push({ name: 'W_hrT', type: vecP ? 'vec4f' : 'f32', writable: false, doc: '(D, H, P): W_hrT[d][k][p] = W_hr[d][p][k]' });

  // Unit index j covers hidden units 4j … 4j+3 (vec4) or unit j alone.
  const lanes = vec4 ? [0, 1, 2, 3] : [0];
  const scalarAt = (base: string, e: number) => (vec4 ? `${base} + 4u * j + ${e}u` : `${base} + j`);
  const gather = (array: string, base: string) => (vec4 ? `vec4f(${lanes.map((e) => `${array}[${scalarAt(base, e)}]`).join(', ')})` : `${array}[${base} + j]`);
  const scatter = (array: string, base: string, value: string) =>
    lanes.map((e) => `${array}[${scalarAt(base, e)}] = ${value}${vec4 ? `.${'xyzw'[e]}` : ''};`).join(' ');
  // Units per row of H (constant-folded: keep it parenthesised inside products).
  const U = vec4 ? '(H / 4u)' : 'H';
  const gateSums = matvecCode({ G, F, src: 'h_wg', s: 'hp', weights: 'W_hhT', w: `d * HO * G * ${U} + j`, K: 'HO', row: `(G * ${U})`, gate: U });
  const x = Array.from({ length: G }, (_, q) => `let x${q} = projected[x + ${q}u * ${U} + j];`).join(' ');
  const PU = vecP ? '(P / 4u)' : 'P';

  const gatePhase = /* wgsl */ `
      for (var j = li; j < ${U}; j += WG) {
        ${gateSums}
        ${x}
        ${cellCode(shape, { h_prev: gather('h_wg', 'hp'), c_prev: 'c_wg[j]', b_hn: `b_hn[d * ${U} + j]` })}
        ${lstm ? 'c_wg[j] = c;' : ''}
        ${P > 0 ? scatter('u_wg', '0u', 'h') : `${scatter('h_wg', 'next', 'h')}\n        ${scatter('output', 'out', 'h')}`}
      }`;
  const projectionPhase = P > 0
    ? /* wgsl */ `
    // u is complete: h_t = u · W_hrᵀ.
    workgroupBarrier();
    if (t < len) {
      for (var p = li; p < ${PU}; p += WG) {
        ${matvecCode({ G: 1, F: vecP ? 'vec4f' : 'f32', src: 'u_wg', s: '0u', weights: 'W_hrT', w: `d * H * ${PU} + p`, K: 'H', row: PU, gate: '0u' })}
        ${vecP
          ? [0, 1, 2, 3].map((e) => `h_wg[next + 4u * p + ${e}u] = a0.${'xyzw'[e]}; output[out + 4u * p + ${e}u] = a0.${'xyzw'[e]};`).join('\n        ')
          : 'h_wg[next + p] = a0;\n        output[out + p] = a0;'}
      }
    }`
    : '';

  return {
    bindings,
    code: /* wgsl */ `
// Steps s0 … s1−1 of L: a call split into blocks (see submit.ts) runs its steps a block at a time, the
// states carried in stateN between blocks.
struct Layer { L: u32, N: u32, hOffset: u32, cOffset: u32, s0: u32, s1: u32, pad0: u32, pad1: u32 }
${declarations('Layer', bindings)}

${constants(shape)}
const WG = ${WG}u;
// The states in workgroup memory: h in ping-pong halves, c and u per hidden unit.
var<workgroup> h_wg: array<f32, ${2 * Hout}>;
${lstm ? `var<workgroup> c_wg: array<${F}, ${units}>;` : ''}
${P > 0 ? `var<workgroup> u_wg: array<f32, ${H}>;` : ''}
${activationsOf(F)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let b = wg.x;
  let d = wg.y;
  let L = dims.L;
  let N = dims.N;
  let len = lengths[b];
  let hs = dims.hOffset + (d * N + b) * HO;
  ${lstm ? 'let cs = dims.cOffset + (d * N + b) * H;' : ''}
  if (dims.s0 == 0u) {
    for (var k = li; k < HO; k += WG) { h_wg[k] = state0[hs + k]; }
    ${lstm ? `for (var j = li; j < ${U}; j += WG) { c_wg[j] = ${gather('state0', 'cs')}; }` : ''}
  } else {
    // Where the previous block of steps left this sequence's states.
    for (var k = li; k < HO; k += WG) { h_wg[k] = stateN[hs + k]; }
    ${lstm ? `for (var j = li; j < ${U}; j += WG) { c_wg[j] = ${gather('stateN', 'cs')}; }` : ''}
  }
  workgroupBarrier();
  var cur = 0u;
  for (var s = dims.s0; s < dims.s1; s++) {
    let t = select(s, L - 1u - s, d == 1u);
    // Offsets of (t, b, direction d): gate rows in projected (in elements of its array), h in output.
    let x = ((t * N + b) * D + d) * G * ${U};
    let out = (t * N + b) * D * HO + d * HO;
    let hp = cur * HO;
    let next = (1u - cur) * HO;
    if (t < len) {${gatePhase}
    }${projectionPhase}
    if (t < len) {
      cur = 1u - cur;
    } else {
      // Past this sequence's length: zero output, states kept (the reverse direction starts later).
      for (var k = li; k < HO; k += WG) { output[out + k] = 0.0; }
    }
    workgroupBarrier();
  }
  for (var k = li; k < HO; k += WG) { stateN[hs + k] = h_wg[cur * HO + k]; }
  ${lstm ? `for (var j = li; j < ${U}; j += WG) { ${scatter('stateN', 'cs', 'c_wg[j]')} }` : ''}
}
`,
  };
}
