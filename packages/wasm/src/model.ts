import type { BackwardPlan, EngineGradients, EngineModel, EngineResult, ForwardPlan, ModelPlan } from '@recurrent/core';
import { RnnError } from '@recurrent/core';
import { exclusive, runPaced, type Phase, type Turns } from './blocks.js';
import { gateRow, Trainer, type BackwardKernels } from './backward.js';
import type { Heap } from './heap.js';
import type { WorkerPool } from './threads.js';

/** Output columns per packed panel, and rows per GEMM row block: must match NR and ROW_BLOCK in assembly/index.ts. */
const NR = 8;
const ROW_BLOCK = 64;

/** The exports of assembly/index.ts (offsets are bytes into linear memory). */
export interface Kernels extends BackwardKernels {
  runLayer(
    thread: number, threads: number, canWait: number, sync: number,
    cell: number, L: number, N: number, H: number, P: number, G: number, D: number, I: number,
    x: number, packedW_ih: number, bias: number, proj: number, out: number,
    packedW_hh: number, hiddenBias: number, packedW_hr: number, zeros: number,
    q: number, h: number, c: number, hCell: number,
    h0: number, c0: number, lengths: number, hN: number, cN: number, packs: number, packBytes: number,
    rowFrom: number, rowTo: number, stepFrom: number, stepTo: number,
  ): number;
  heapBase(): number;
  RNN_TANH: WebAssembly.Global;
  RNN_RELU: WebAssembly.Global;
  LSTM: WebAssembly.Global;
  GRU: WebAssembly.Global;
}

/** What a backend shares with its models: one module instance, its memory and the allocator. */
export interface Runtime {
  kernels: Kernels;
  heap: Heap;
  /** The variant that runs now: a failed pool that cannot be restarted leaves one thread. */
  readonly variant: string;
  /** Worker threads 1…n−1 (null: single-threaded), and whether this thread may block. */
  pool: WorkerPool | null;
  canWait: boolean;
  /** The calls of this runtime, one at a time (blocks.ts). */
  turns: Turns;
}

/**
 * Steps smaller than this many multiply-adds (N·G·H·H_out, a few microseconds) run on one thread: a
 * barrier per step, and a worker that the OS may have parked, would cost more than they save.
 */
export const THREADED_WORK = 1 << 17;

const roundUp = (n: number): number => Math.ceil(n / NR) * NR;

/**
 * Packs `cols` output columns of a row-major (·, K) PyTorch weight into panels of 8 columns,
 * panel[k][c] = W[rowOf(8p + c)][k], zero where rowOf gives -1: the layout the GEMM micro-kernels read
 * (see assembly/index.ts). `cols` is a multiple of 8.
 */
function packPanels(W: Float32Array, K: number, cols: number, rowOf: (n: number) => number, dst: Float32Array, at: number): void {
  for (let p = 0; p < cols / NR; p++) {
    for (let c = 0; c < NR; c++) {
      const row = rowOf(p * NR + c);
      for (let k = 0; k < K; k++) dst[at + (p * K + k) * NR + c] = row < 0 ? 0 : W[row * K + k]!;
    }
  }
}

/** Byte offsets of one layer's packed weights in linear memory. */
interface LayerWeights {
  inputSize: number;
  packedW_ih: number;
  bias: number;
  packedW_hh: number;
  hiddenBias: number;
  packedW_hr: number;
}

/** Byte offsets of one forward's buffers inside the model's scratch block. */
interface Scratch {
  x: number;
  outputs: [number, number];
  proj: number;
  q: number;
  h: number;
  c: number;
  hCell: number;
  h0: number;
  c0: number;
  hN: number;
  cN: number;
  lengths: number;
  packs: number;
  packBytes: number;
}

const F32 = 4;
const MODULE = { rnn: 'an RNN', lstm: 'an LSTM', gru: 'a GRU' } as const;

/**
 * A model in linear memory: packed weights uploaded once, and one scratch block reused by every
 * forward that fits in it (it is replaced, never grown in place, when a larger input comes). RNN, LSTM
 * and GRU differ only in G, the cell the kernel runs, and (LSTM) the cell state and projection.
 */
export class WasmModel implements EngineModel {
  readonly backend: string;
  private weightsBlock: number;
  private readonly layers: LayerWeights[];
  private readonly zeros: number;
  private scratchBlock = -1;
  private scratchBytes = 0;
  private disposed = false;
  private readonly lstm: boolean;
  private readonly G: number;
  private readonly H: number;
  /** H_out, the width of h. */
  private readonly P: number;
  private readonly D: number;
  private readonly cell: number;
  private readonly what: string;
  /** The plan of the weights the model holds (core keeps it too): a backward packs its transposed weights from it. */
  private plan: ModelPlan;
  /** The backward's weights and buffers, made at the first backward. */
  private trainer: Trainer | null = null;

  constructor(private readonly runtime: Runtime, plan: ModelPlan, private readonly onDispose: () => void = () => {}) {
    this.backend = runtime.variant;
    this.plan = plan;
    const { mode, gates: G, hiddenSize: H, outputSize: P, numDirections: D } = plan;
    this.lstm = mode === 'lstm';
    this.G = G;
    this.H = H;
    this.P = P;
    this.D = D;
    const { kernels } = runtime;
    const cellKernel = mode === 'lstm' ? kernels.LSTM : mode === 'gru' ? kernels.GRU : plan.nonlinearity === 'tanh' ? kernels.RNN_TANH : kernels.RNN_RELU;
    this.cell = cellKernel.value as number;
    this.what = `${MODULE[mode]} with hidden size ${H}${plan.projSize > 0 ? `, projection size ${P}` : ''}, ${plan.numLayers} layer(s), ${D} direction(s)`;
    const GH = G * roundUp(H);
    const projected = plan.projSize > 0;

    // One block: per layer, W_ih of both directions as one (D·G·Hp, I) matrix and its bias, then each
    // direction's W_hh, hidden bias and (projected LSTM) W_hr; last, a row of zeros for bias-free GEMMs.
    let floats = 0;
    const take = (count: number): number => {
      const at = floats;
      floats += roundUp(count);
      return at;
    };
    const offsets = plan.layers.map(({ inputSize }) => ({
      packedW_ih: take(D * GH * inputSize),
      bias: take(D * GH),
      packedW_hh: take(D * GH * P),
      hiddenBias: take(D * GH),
      packedW_hr: projected ? take(D * roundUp(P) * H) : 0,
    }));
    const zeros = take(Math.max(GH, roundUp(P)));
    const { heap } = runtime;
    // The allocation is the only step that can fail (RnnError 'limit'): nothing exists before it.
    this.weightsBlock = heap.alloc(floats * F32, `the weights of ${this.what}`);
    new Float32Array(heap.memory.buffer, this.weightsBlock, floats).fill(0);
    this.zeros = this.weightsBlock + zeros * F32;
    const bytes = (offset: number): number => this.weightsBlock + offset * F32;
    this.layers = plan.layers.map(({ inputSize }, index) => {
      const at = offsets[index]!;
      return {
        inputSize,
        packedW_ih: bytes(at.packedW_ih),
        bias: bytes(at.bias),
        packedW_hh: bytes(at.packedW_hh),
        hiddenBias: bytes(at.hiddenBias),
        packedW_hr: projected ? bytes(at.packedW_hr) : 0,
      };
    });
    this.pack(plan);
  }

  /** Packs the weights of `plan` into the weights block (at the model's creation, and in place by loadWeights). */
  private pack(plan: ModelPlan): void {
    const { G, H, P } = this;
    const GH = G * roundUp(H);
    const memory = new Float32Array(this.runtime.heap.memory.buffer);
    const gates = (n: number): number => gateRow(n, G, H);
    plan.layers.forEach(({ inputSize, directions }, index) => {
      const layer = this.layers[index]!;
      const [W_ihAt, biasAt, W_hhAt, hiddenBiasAt, W_hrAt] = [layer.packedW_ih, layer.bias, layer.packedW_hh, layer.hiddenBias, layer.packedW_hr].map((bytes) => bytes / F32) as [number, number, number, number, number];
      directions.forEach(({ W_ih, W_hh, b_ih, b_hh, W_hr }, d) => {
        packPanels(W_ih, inputSize, GH, gates, memory, W_ihAt + d * GH * inputSize);
        packPanels(W_hh, P, GH, gates, memory, W_hhAt + d * GH * P);
        if (W_hr !== null) packPanels(W_hr, H, roundUp(P), (n) => (n < P ? n : -1), memory, W_hrAt + d * roundUp(P) * H);
        if (b_ih === null || b_hh === null) return;
        for (let n = 0; n < GH; n++) {
          const row = gates(n);
          if (row < 0) continue;
          // A GRU's b_hn stays in the hidden part: n = tanh(W_in·x + b_in + r⊙(W_hn·h + b_hn)).
          const inside = plan.mode === 'gru' && row >= 2 * H;
          memory[biasAt + d * GH + n] = inside ? b_ih[row]! : b_ih[row]! + b_hh[row]!;
          if (inside) memory[hiddenBiasAt + d * GH + n] = b_hh[row]!;
        }
      });
    });
  }

  /**
   * Backpropagation through time (src/backward.ts): a forward that keeps each layer's activations, then
   * the layers from the top down, in the runtime's turn like a forward. The forward part runs on the
   * worker threads where a forward would; the backward's own kernels run on one thread.
   */
  async backward(plan: BackwardPlan): Promise<EngineGradients> {
    this.checkLive();
    return exclusive(this.runtime, plan.signal, 'backward', () => {
      this.checkLive();
      this.trainer ??= new Trainer(this.runtime, {
        cell: this.cell, G: this.G, H: this.H, P: this.P, D: this.D, lstm: this.lstm, gru: this.plan.mode === 'gru',
        hasBias: this.plan.hasBias, what: this.what, layers: this.layers, zeros: this.zeros,
      });
      return this.trainer.run(plan, () => this.plan);
    });
  }

  /** Replaces the weights in place: a plan of this model's sizes (core checked the state dict). */
  async loadWeights(plan: ModelPlan): Promise<void> {
    this.checkLive();
    return exclusive(this.runtime, null, 'loadWeights', () => {
      this.checkLive();
      this.pack(plan);
      this.trainer?.pack(plan);
      this.plan = plan;
    });
  }

  /** Bytes the backward holds in linear memory (transposed weights and buffers, kept for the next one). */
  get backwardBytes(): number {
    return this.trainer?.bytes ?? 0;
  }

  async forward(plan: ForwardPlan): Promise<EngineResult> {
    this.checkLive();
    return exclusive(this.runtime, plan.signal, 'forward', () => this.run(plan));
  }

  private checkLive(): void {
    if (this.disposed) throw new RnnError('disposed', 'This WASM model was disposed: create a new one with createRnn(), createLstm() or createGru()');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.runtime.heap.release(this.weightsBlock);
    if (this.scratchBlock >= 0) this.runtime.heap.release(this.scratchBlock);
    this.scratchBlock = -1;
    this.trainer?.dispose();
    this.trainer = null;
    this.onDispose();
  }

  /** Lays out the buffers of an (L, N) forward, reusing the scratch block when they fit in it. */
  private scratch(L: number, N: number): Scratch {
    const { G, H, P, D, layers, lstm } = this;
    const Hp = roundUp(H);
    const DP = D * P;
    const I = layers[0]!.inputSize;
    const states = layers.length * D * N;
    // Each thread's GEMM packs a block of rows of its widest A: x, h or the unprojected h.
    const packFloats = ROW_BLOCK * Math.max(H, P, ...layers.map((layer) => layer.inputSize));
    const sizes = {
      x: L * N * I,
      output0: L * N * DP,
      output1: layers.length > 1 ? L * N * DP : 0,
      proj: L * N * D * G * Hp,
      q: D * N * G * Hp,
      h: 2 * D * N * roundUp(P),
      c: lstm ? D * N * Hp : 0,
      hCell: P !== H ? D * N * Hp : 0,
      h0: states * P,
      c0: lstm ? states * H : 0,
      hN: states * P,
      cN: lstm ? states * H : 0,
      lengths: N,
      packs: (this.runtime.pool?.threads ?? 1) * packFloats,
    };
    const at: Record<string, number> = {};
    let bytes = 0;
    for (const [name, count] of Object.entries(sizes)) {
      at[name] = bytes;
      bytes += Math.ceil((count * F32) / 64) * 64;
    }
    if (bytes > this.scratchBytes) {
      const { heap } = this.runtime;
      if (bytes > heap.maxBytes) {
        throw new RnnError('limit', `An input of ${L} step(s) × ${N} batch element(s) needs ${(bytes / 2 ** 20).toFixed(1)} MiB of WebAssembly memory for ${this.what}; at most ${(heap.maxBytes / 2 ** 20).toFixed(0)} MiB fit`, {
          seqLen: L, batch: N, requestedBytes: bytes, maxBytes: heap.maxBytes,
        });
      }
      if (this.scratchBlock >= 0) heap.release(this.scratchBlock);
      this.scratchBlock = -1;
      this.scratchBytes = 0;
      this.scratchBlock = heap.alloc(bytes, `the buffers of an input of ${L} step(s) × ${N} batch element(s)`);
      this.scratchBytes = bytes;
    }
    const s = this.scratchBlock;
    return {
      x: s + at.x!,
      outputs: [s + at.output0!, s + (layers.length > 1 ? at.output1! : at.output0!)],
      proj: s + at.proj!,
      q: s + at.q!,
      h: s + at.h!,
      c: s + at.c!,
      hCell: s + at.hCell!,
      h0: s + at.h0!,
      c0: s + at.c0!,
      hN: s + at.hN!,
      cN: s + at.cN!,
      lengths: s + at.lengths!,
      packs: s + at.packs!,
      packBytes: packFloats * F32,
    };
  }

  private async run({ seqLen: L, batch: N, input, h0, c0, lengths, signal }: ForwardPlan): Promise<EngineResult> {
    this.checkLive();
    const { G, H, P, D, layers, lstm, cell } = this;
    const { kernels, heap } = this.runtime;
    const DP = D * P;
    const I = layers[0]!.inputSize;
    const buffers = this.scratch(L, N);
    // Rows in descending length order, as pack_padded_sequence sorts them: the rows still running at
    // any step are then a prefix. Without lengths the order is the identity and nothing is permuted.
    const order = Int32Array.from({ length: N }, (_, b) => b);
    if (lengths !== null) order.sort((a, b) => lengths[b]! - lengths[a]! || a - b);

    const memory = new Float32Array(heap.memory.buffer);
    const rows = (offset: number, from: Float32Array, width: number, count: number): void => {
      if (lengths === null) memory.set(from, offset / F32);
      else {
        for (let r = 0; r < count; r++) {
          for (let i = 0; i < N; i++) {
            const src = (r * N + order[i]!) * width;
            memory.set(from.subarray(src, src + width), offset / F32 + (r * N + i) * width);
          }
        }
      }
    };
    rows(buffers.x, input, I, L);
    if (h0 !== null) rows(buffers.h0, h0, P, layers.length * D);
    if (lstm && c0 !== null) rows(buffers.c0, c0, H, layers.length * D);
    if (lengths !== null) {
      const sorted = new Int32Array(heap.memory.buffer, buffers.lengths, N);
      for (let i = 0; i < N; i++) sorted[i] = lengths[order[i]!]!;
    }

    // Rows that do not run stay zero in both output buffers, for every layer.
    if (lengths !== null) for (const out of new Set(buffers.outputs)) new Float32Array(heap.memory.buffer, out, L * N * DP).fill(0);
    const { pool } = this.runtime;
    const threads = pool !== null && N * G * H * P >= THREADED_WORK ? pool.threads : 1;
    const Hp = roundUp(H);
    const LN = L * N;
    // A step: the GEMM h·W_hhᵀ, the projection h·W_hrᵀ if any, and about 10 operations per gate value.
    const stepFlops = D * N * (2 * G * Hp * P + (P !== H ? 2 * roundUp(P) * H : 0) + 10 * G * Hp);
    let x = buffers.x;
    let out = x;
    const phases: Phase[] = [];
    const layerArgs = layers.map((layer, index) => {
      out = buffers.outputs[index % 2]!;
      const state = index * D * N;
      const args = [
        cell, L, N, H, P, G, D, layer.inputSize,
        x, layer.packedW_ih, layer.bias, buffers.proj, out,
        layer.packedW_hh, layer.hiddenBias, layer.packedW_hr, this.zeros,
        buffers.q, buffers.h, buffers.c, buffers.hCell,
        h0 === null ? 0 : buffers.h0 + state * P * F32, lstm && c0 !== null ? buffers.c0 + state * H * F32 : 0,
        lengths === null ? 0 : buffers.lengths, buffers.hN + state * P * F32, buffers.cN + state * H * F32,
        buffers.packs, buffers.packBytes,
      ];
      x = out;
      // With a signal: the input projection in blocks of its L·N rows (multiples of the GEMM's 64-row block, so
      // the bits are those of one call), then the time loop in blocks of steps.
      phases.push(
        { units: LN, flopsPerUnit: 2 * D * G * Hp * layer.inputSize, granularity: ROW_BLOCK, call: (r0, r1) => [...args, r0, r1, 0, 0] },
        { units: L, flopsPerUnit: stepFlops, granularity: 1, call: (s0, s1) => [...args, LN, LN, s0, s1] },
      );
      return [...args, 0, LN, 0, L];
    });
    await runPaced(this.runtime, 'runLayer', threads, { whole: layerArgs, phases }, { signal, what: 'forward', check: () => this.checkLive() });

    // Copy the results out of linear memory, back in the caller's batch order.
    const view = new Float32Array(heap.memory.buffer);
    const unpermute = (offset: number, width: number, count: number): Float32Array => {
      const from = view.subarray(offset / F32, offset / F32 + count * N * width);
      if (lengths === null) return from.slice();
      const result = new Float32Array(count * N * width);
      for (let r = 0; r < count; r++) {
        for (let i = 0; i < N; i++) {
          const src = (r * N + i) * width;
          result.set(from.subarray(src, src + width), (r * N + order[i]!) * width);
        }
      }
      return result;
    };
    const result: EngineResult = { output: unpermute(out, DP, L), hN: unpermute(buffers.hN, P, layers.length * D) };
    if (lstm) result.cN = unpermute(buffers.cN, H, layers.length * D);
    return result;
  }
}
