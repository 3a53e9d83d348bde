import type { EngineModel, EngineResult, ForwardPlan, ModelPlan } from '@recurrent/core';
import { RnnError } from '@recurrent/core';
import type { Heap } from './heap.js';
import type { WorkerPool } from './threads.js';

/** Output columns per packed panel: must match NR in assembly/index.ts. */
const NR = 8;

/** The exports of assembly/index.ts (offsets are bytes into linear memory). */
export interface Kernels {
  runLayer(
    thread: number, threads: number, canWait: number, sync: number,
    L: number, N: number, H: number, D: number, I: number, act: number,
    x: number, packedW_ih: number, bias: number, proj: number, out: number, packedW_hh: number,
    states: number, h0: number, lengths: number, hN: number,
  ): void;
  heapBase(): number;
  TANH: WebAssembly.Global;
  RELU: WebAssembly.Global;
}

/** What a backend shares with its models: one module instance, its memory and the allocator. */
export interface Runtime {
  kernels: Kernels;
  heap: Heap;
  variant: string;
  /** Worker threads 1…n−1 (null: single-threaded), the two barrier words they share, and whether this thread may block. */
  pool: WorkerPool | null;
  sync: number;
  canWait: boolean;
}

/**
 * Steps smaller than this many multiply-adds (N·H·H, a few microseconds) run on one thread: a barrier
 * per step, and a worker that the OS may have parked, would cost more than they save.
 */
export const THREADED_WORK = 1 << 17;

function packedFloats(cols: number, K: number): number {
  return Math.ceil(cols / NR) * NR * K;
}

/**
 * Packs a row-major (cols, K) PyTorch weight into panels of 8 output columns, panel[k][c] = W[8p + c][k],
 * zero past the last column: the layout the GEMM micro-kernels read (see assembly/index.ts).
 */
function packPanels(W: Float32Array, cols: number, K: number, dst: Float32Array, at: number): void {
  const panels = Math.ceil(cols / NR);
  for (let p = 0; p < panels; p++) {
    for (let k = 0; k < K; k++) {
      const row = at + (p * K + k) * NR;
      for (let c = 0; c < NR; c++) {
        const n = p * NR + c;
        dst[row + c] = n < cols ? W[n * K + k]! : 0;
      }
    }
  }
}

/** Byte offsets of one layer's packed weights in linear memory. */
interface LayerWeights {
  inputSize: number;
  packedW_ih: number;
  bias: number;
  packedW_hh: number;
}

/** Byte offsets of one forward's buffers inside the model's scratch block. */
interface Scratch {
  x: number;
  outputs: [number, number];
  proj: number;
  states: number;
  h0: number;
  hN: number;
  lengths: number;
}

const F32 = 4;

/**
 * A model in linear memory: packed weights uploaded once, and one scratch block reused by every
 * forward that fits in it (it is replaced, never grown in place, when a larger input comes).
 */
export class WasmModel implements EngineModel {
  readonly backend: string;
  private weightsBlock: number;
  private readonly layers: LayerWeights[];
  private scratchBlock = -1;
  private scratchBytes = 0;
  private disposed = false;
  private readonly H: number;
  private readonly D: number;
  private readonly act: number;

  constructor(private readonly runtime: Runtime, plan: ModelPlan, private readonly onDispose: () => void = () => {}) {
    this.backend = runtime.variant;
    const H = (this.H = plan.hiddenSize);
    const D = (this.D = plan.numDirections);
    this.act = (plan.nonlinearity === 'tanh' ? runtime.kernels.TANH : runtime.kernels.RELU).value as number;
    const DH = D * H;

    // One block: per layer, W_ih of both directions as one (D·H, I) matrix, b_ih + b_hh, then each W_hh.
    let floats = 0;
    const offsets = plan.layers.map(({ inputSize }) => {
      const at = { inputSize, packedW_ih: floats, bias: 0, packedW_hh: 0 };
      floats += packedFloats(DH, inputSize);
      at.bias = floats;
      floats += packedFloats(DH, 1);
      at.packedW_hh = floats;
      floats += D * packedFloats(H, H);
      return at;
    });
    const { heap } = runtime;
    this.weightsBlock = heap.alloc(floats * F32, `the weights of an RNN with hidden size ${H}, ${plan.numLayers} layer(s), ${D} direction(s)`);
    const memory = new Float32Array(heap.memory.buffer);
    const base = this.weightsBlock / F32;
    this.layers = plan.layers.map(({ inputSize, directions }, index) => {
      const at = offsets[index]!;
      const W_ih = new Float32Array(DH * inputSize);
      directions.forEach((direction, d) => {
        W_ih.set(direction.W_ih, d * H * inputSize);
        packPanels(direction.W_hh, H, H, memory, base + at.packedW_hh + d * packedFloats(H, H));
        for (let j = 0; j < H; j++) {
          memory[base + at.bias + d * H + j] = direction.b_ih && direction.b_hh ? direction.b_ih[j]! + direction.b_hh[j]! : 0;
        }
      });
      packPanels(W_ih, DH, inputSize, memory, base + at.packedW_ih);
      return {
        inputSize,
        packedW_ih: this.weightsBlock + at.packedW_ih * F32,
        bias: this.weightsBlock + at.bias * F32,
        packedW_hh: this.weightsBlock + at.packedW_hh * F32,
      };
    });
  }

  async forward(plan: ForwardPlan): Promise<EngineResult> {
    if (this.disposed) throw new RnnError('disposed', 'This WASM model was disposed: create a new one with createRnn()');
    return this.run(plan);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.runtime.heap.release(this.weightsBlock);
    if (this.scratchBlock >= 0) this.runtime.heap.release(this.scratchBlock);
    this.scratchBlock = -1;
    this.onDispose();
  }

  /** Lays out the buffers of an (L, N) forward, reusing the scratch block when they fit in it. */
  private scratch(L: number, N: number): Scratch {
    const { H, D, layers } = this;
    const DH = D * H;
    const I = layers[0]!.inputSize;
    const stateFloats = layers.length * D * N * H;
    const sizes = {
      x: L * N * I,
      output0: L * N * DH,
      output1: layers.length > 1 ? L * N * DH : 0,
      proj: L * N * DH,
      states: 2 * D * N * H,
      h0: stateFloats,
      hN: stateFloats,
      lengths: N,
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
        throw new RnnError('limit', `An input of ${L} step(s) × ${N} batch element(s) needs ${(bytes / 2 ** 20).toFixed(1)} MiB of WebAssembly memory for this model (hidden size ${H}, ${layers.length} layer(s), ${D} direction(s)); at most ${(heap.maxBytes / 2 ** 20).toFixed(0)} MiB fit`, {
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
      states: s + at.states!,
      h0: s + at.h0!,
      hN: s + at.hN!,
      lengths: s + at.lengths!,
    };
  }

  private run({ seqLen: L, batch: N, input, h0, lengths }: ForwardPlan): EngineResult {
    const { H, D, layers, act } = this;
    const { kernels, heap } = this.runtime;
    const DH = D * H;
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
    if (h0 !== null) rows(buffers.h0, h0, H, layers.length * D);
    if (lengths !== null) {
      const sorted = new Int32Array(heap.memory.buffer, buffers.lengths, N);
      for (let i = 0; i < N; i++) sorted[i] = lengths[order[i]!]!;
    }

    // Rows that do not run stay zero in both output buffers, for every layer.
    if (lengths !== null) for (const out of new Set(buffers.outputs)) new Float32Array(heap.memory.buffer, out, L * N * DH).fill(0);
    let x = buffers.x;
    let out = x;
    const layerArgs = layers.map((layer, index) => {
      out = buffers.outputs[index % 2]!;
      const stateOffset = index * D * N * H * F32;
      const args = [
        L, N, H, D, layer.inputSize, act,
        x, layer.packedW_ih, layer.bias, buffers.proj, out, layer.packedW_hh,
        buffers.states, h0 === null ? 0 : buffers.h0 + stateOffset, lengths === null ? 0 : buffers.lengths, buffers.hN + stateOffset,
      ];
      x = out;
      return args;
    });
    const { pool, sync, canWait } = this.runtime;
    const threads = pool !== null && N * H * H >= THREADED_WORK ? pool.threads : 1;
    if (threads > 1) pool!.post(sync, layerArgs);
    for (const args of layerArgs) {
      (kernels.runLayer as (...a: number[]) => void)(0, threads, canWait ? 1 : 0, sync, ...args);
    }

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
    return { output: unpermute(out, DH, L), hN: unpermute(buffers.hN, H, layers.length * D) };
  }
}
