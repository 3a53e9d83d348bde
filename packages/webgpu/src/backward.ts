/**
 * Backpropagation through time on the GPU, in the CPU engine's structure (packages/cpu/src/model.ts):
 *
 * 1. A forward over every layer that keeps each layer's tape in GPU buffers (backward-shaders.ts
 *    tapeShader): the projection GEMM, then one dispatch per step with both directions in it.
 * 2. The layers from the top down: one step backwards per two dispatches (`cell`, then `hidden`:
 *    dh_{t-1} = dgates·W_hh), both directions in each, all L steps in the same command buffer; then the
 *    weight gradients as GEMMs over every running step at once (dW_ih = Σ_t dgxᵀ·x_t for both
 *    directions, dW_hh = Σ_t dghᵀ·h_{t-1}, dW_hr = Σ_t dh_tᵀ·h_cell_t), the bias gradients as column
 *    sums, and the input gradient dx = dgx·W_ih, which is the output gradient of the layer below.
 * 3. One read-back of every gradient.
 *
 * The work is a lazy sequence of blocks for submitBlocks (submit.ts): without a signal they all go in
 * one submission; with one, each block is sized to about BLOCK_SECONDS of GPU work at this model's
 * measured pace (runs of steps, GEMM pieces) and the signal and the device are checked between them,
 * so an aborted backward stops within a block or two. The buffers come from the model's pool and go
 * back to it afterwards, aborted or not (the next backward of the same shape reuses them; work still
 * on the GPU finishes before the next call's, which queues behind it).
 */
import type { BackwardPlan, DirectionWeights, EngineGradients, ModelPlan } from '@recurrent/core';
import { isRnnError, throwIfAborted } from '@recurrent/core';
import {
  columnSumShader, gemmUniform, gemmVariantShader, savedBlocks, stepBackwardShader, tapeShader, tapeWidth,
  type GemmDims, type TrainingKernel,
} from './backward-shaders.js';
import { Usage, deviceLostError, gpuFailure, isDeviceLoss, scoped, type DeviceState } from './gpu.js';
import { GEMM_DEPTH, GEMM_TILE, RECUR_WORKGROUP, UNIFORM_SLOT } from './shaders.js';
import { Pace, submitBlocks, type Block } from './submit.js';
import { layeredStates, type LayerBuffers } from './weights.js';

/** What the model lends its backward: the device, its weights and its buffer pool. */
export interface TrainingHost {
  /** The backend's device and whether it is still usable. */
  state: DeviceState;
  device: GPUDevice;
  /** Throws once the model or backend is disposed (its buffers destroyed) or the device lost: checked between blocks and before the read-back. */
  check(): void;
  plan: ModelPlan;
  layers: readonly LayerBuffers[];
  acquire(bytes: number, usage: number): GPUBuffer;
  release(buffers: GPUBuffer[]): void;
  /** The RnnError for an error the GPU reported (or a rejected read-back) for a backward holding `bytes`. */
  failure(error: unknown, bytes: number): Error;
}

interface Compiled {
  kernel: TrainingKernel;
  layout: GPUBindGroupLayout;
  pipelines: Record<string, GPUComputePipeline>;
}

/** The backward's kernels: the tape forward, the two step kernels, the three GEMM variants and the bias sums. */
interface Kernels {
  tape: Compiled;
  cell: Compiled;
  hidden: Compiled;
  gemm: { nt: Compiled; tn: Compiled; nn: Compiled };
  columnSum: Compiled;
}

/** Where each gradient lies in the one result buffer, in floats. */
interface ResultLayout {
  total: number;
  input: number;
  h0: number;
  c0: number;
  layers: { W_ih: number; b_ih: number; W_hh: number; b_hh: number; W_hr: number }[];
}

/** GEMM dispatches of a layer in one submission: its projection, dW_ih, dW_hh, dW_hr, two bias sums, dx. */
const GEMM_SLOTS = 7;
/**
 * The fewest rows of K a piece of a weight gradient (or a bias sum) takes: four passes of each tile
 * through workgroup memory, so that a piece is worth its workgroups' start (on a software GPU a piece
 * of GEMM_DEPTH rows runs ~10× slower per FLOP).
 */
const DEPTH_RUN = 4 * GEMM_DEPTH;

/** One backward's sizes and the buffers it borrowed from the pool (see prepare). */
interface Run {
  L: number;
  N: number;
  /** Bytes of one layer's h (D, N, HO) and c (D, N, H; 0 unless LSTM). */
  hBytes: number;
  cBytes: number;
  out: ResultLayout;
  x0: GPUBuffer;
  lengths: GPUBuffer;
  /** h0 of every layer, then c0. */
  initial: GPUBuffer;
  /** ∂L/∂h_n of every layer, then ∂L/∂c_n. */
  upstream: GPUBuffer;
  gradOut: GPUBuffer;
  /** No output gradient came: gradOut is cleared on the GPU. */
  clearGradOut: boolean;
  projected: GPUBuffer;
  outputs: GPUBuffer[];
  tapes: GPUBuffer[];
  state: GPUBuffer;
  dstate: GPUBuffer;
  dgx: GPUBuffer;
  /** The GRU's own; dgx for the others. */
  dgh: GPUBuffer;
  dhTape: GPUBuffer | null;
  dxBelow: GPUBuffer | null;
  results: GPUBuffer;
  readBack: GPUBuffer;
  uniforms: GPUBuffer;
}

export class Backpropagation {
  /** Bytes of GPU buffers the latest backward held (see the README, "Training"). */
  lastBytes = 0;
  /** How fast this model's backward blocks run, so that a cancellable backward stops within BLOCK_SECONDS or so. */
  private readonly pace = new Pace();
  /** The first backward's compilations (off the main thread); null again after one failed, so the next backward compiles afresh. */
  private kernels: Promise<Kernels> | null = null;

  constructor(private readonly host: TrainingHost) {}

  private compiled(): Promise<Kernels> {
    this.kernels ??= this.compileAll().catch((error: unknown) => {
      this.kernels = null;
      throw error;
    });
    return this.kernels;
  }

  private async compileAll(): Promise<Kernels> {
    const { plan } = this.host;
    const step = stepBackwardShader(plan);
    const [tape, cell, hidden, nt, tn, nn, columnSum] = await Promise.all([
      this.compile(tapeShader(plan), plan.projSize > 0 ? ['main', 'project'] : ['main']),
      this.compile(step.cell),
      this.compile(step.hidden),
      this.compile(gemmVariantShader(false, true)),
      this.compile(gemmVariantShader(true, false)),
      this.compile(gemmVariantShader(false, false)),
      this.compile(columnSumShader()),
    ]);
    return { tape, cell, hidden, gemm: { nt, tn, nn }, columnSum };
  }

  private async compile(kernel: TrainingKernel, entryPoints = ['main']): Promise<Compiled> {
    // From the backend's cache: the GEMMs are every model's, the step kernels those of its sizes.
    const cache = this.host.state.pipelines;
    const layout = cache.bindGroupLayout([
      { binding: 0, visibility: 4, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: kernel.uniformBytes } },
      ...kernel.bindings.map((b, i): GPUBindGroupLayoutEntry => ({ binding: i + 1, visibility: 4, buffer: { type: b.writable ? 'storage' : 'read-only-storage' } })),
    ]);
    const compiled = await Promise.all(entryPoints.map((entryPoint) => cache.pipeline(kernel.code, layout, entryPoint)));
    return { kernel, layout, pipelines: Object.fromEntries(entryPoints.map((entryPoint, i) => [entryPoint, compiled[i]!])) };
  }

  /** A bind group of `c`, its buffers picked by the names its kernel binds. */
  private group(c: Compiled, uniforms: GPUBuffer, buffers: Record<string, GPUBuffer | null | undefined>): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniforms, size: c.kernel.uniformBytes } }];
    c.kernel.bindings.forEach(({ name }, i) => {
      const buffer = buffers[name];
      if (!buffer) throw new Error(`internal: the kernel binds ${name}, which this backward has no buffer for`);
      entries.push({ binding: i + 1, resource: { buffer } });
    });
    return this.host.device.createBindGroup({ layout: c.layout, entries });
  }

  private resultLayout(L: number, N: number): ResultLayout {
    const { gates: G, hiddenSize: H, outputSize: HO, projSize: P, numDirections: D, numLayers, hasBias, mode } = this.host.plan;
    const GH = G * H;
    let total = 0;
    const take = (floats: number): number => {
      const at = total;
      total += floats;
      return at;
    };
    const input = take(L * N * this.host.layers[0]!.inputSize);
    const h0 = take(numLayers * D * N * HO);
    const c0 = take(mode === 'lstm' ? numLayers * D * N * H : 0);
    const layers = this.host.layers.map(({ inputSize }) => ({
      W_ih: take(D * GH * inputSize),
      b_ih: take(hasBias ? D * GH : 0),
      W_hh: take(D * GH * HO),
      b_hh: take(hasBias ? D * GH : 0),
      W_hr: take(D * P * H),
    }));
    return { total, input, h0, c0, layers };
  }

  async run(plan: BackwardPlan): Promise<EngineGradients> {
    const what = 'The backward';
    throwIfAborted(plan.signal, what);
    const { state, device } = this.host;
    let kernels: Kernels;
    try {
      kernels = await this.compiled();
    } catch (error) {
      throw isDeviceLoss(state, error) ? deviceLostError(state, error) : gpuFailure(state, error, "the backward's pipelines", 0);
    }
    // Aborted, disposed or lost while compiling: the compilations stay cached for the next backward.
    throwIfAborted(plan.signal, what);
    this.host.check();
    const held: GPUBuffer[] = [];
    const release = (): void => this.host.release(held.splice(0));
    let setup: { value: Run; error: Promise<GPUError | null> };
    try {
      setup = scoped(device, () => this.prepare(plan, held));
    } catch (error) {
      release();
      throw error;
    }
    const run = setup.value;
    const { readBack, out, L, N } = run;
    const heldBytes = held.reduce((sum, buffer) => sum + buffer.size, 0);
    this.lastBytes = heldBytes;

    let gpuError: GPUError | null = null;
    try {
      // A call that can be cancelled goes block by block at this model's pace; others in one submission.
      const pace = plan.signal ? this.pace : null;
      gpuError = await submitBlocks(device, this.blocks(run, kernels, pace), plan.signal, pace, this.host.check, what);
      this.host.check(); // disposed while the blocks ran: mapping a destroyed buffer is a GPU error
      await readBack.mapAsync(1 /* GPUMapMode.READ */, 0, out.total * 4);
    } catch (error) {
      release();
      const setupError = await setup.error;
      // Aborted (or the device lost) between blocks, or what the GPU said.
      throw isRnnError(error) ? error : isDeviceLoss(state, error) ? deviceLostError(state, error) : this.host.failure(setupError ?? gpuError ?? error, heldBytes);
    }
    try {
      gpuError = (await setup.error) ?? gpuError;
      if (gpuError) {
        readBack.unmap();
        throw this.host.failure(gpuError, heldBytes);
      }
      const { gates: G, hiddenSize: H, outputSize: HO, projSize: P, numDirections: D, numLayers, hasBias } = this.host.plan;
      const GH = G * H;
      const mapped = new Float32Array(readBack.getMappedRange(0, out.total * 4));
      const take = (at: number, floats: number): Float32Array => mapped.slice(at, at + floats);
      const gradients: DirectionWeights[][] = this.host.layers.map(({ inputSize: I }, index) => {
        const at = out.layers[index]!;
        return Array.from({ length: D }, (_, d) => ({
          W_ih: take(at.W_ih + d * GH * I, GH * I),
          W_hh: take(at.W_hh + d * GH * HO, GH * HO),
          b_ih: hasBias ? take(at.b_ih + d * GH, GH) : null,
          b_hh: hasBias ? take(at.b_hh + d * GH, GH) : null,
          W_hr: P > 0 ? take(at.W_hr + d * P * H, P * H) : null,
        }));
      });
      const result: EngineGradients = { input: take(out.input, L * N * this.host.layers[0]!.inputSize), h0: take(out.h0, numLayers * D * N * HO), layers: gradients };
      if (this.host.plan.mode === 'lstm') result.c0 = take(out.c0, numLayers * D * N * H);
      readBack.unmap();
      return result;
    } finally {
      release();
    }
  }

  /** Takes one backward's buffers from the pool (into `held`) and writes its inputs and step uniforms. */
  private prepare(plan: BackwardPlan, held: GPUBuffer[]): Run {
    const { queue } = this.host.device;
    const { seqLen: L, batch: N, input, h0, c0, lengths, gradOutput, gradHN, gradCN } = plan;
    const { gates: G, hiddenSize: H, outputSize: HO, projSize: P, numDirections: D, numLayers, mode } = this.host.plan;
    const lstm = mode === 'lstm';
    const GH = G * H;
    const R = L * N;
    const TW = tapeWidth(this.host.plan);
    const layers = this.host.layers;
    const hBytes = D * N * HO * 4;
    const cBytes = lstm ? D * N * H * 4 : 0;
    const acquire = (bytes: number, usage: number = Usage.storage): GPUBuffer => {
      const buffer = this.host.acquire(bytes, usage);
      held.push(buffer);
      return buffer;
    };

    // Inputs: x, lengths, the initial states (h0 then c0, every layer) and the upstream gradients.
    const x0 = acquire(R * layers[0]!.inputSize * 4);
    queue.writeBuffer(x0, 0, input.buffer, input.byteOffset, input.byteLength);
    const lengthsBuffer = acquire(N * 4);
    queue.writeBuffer(lengthsBuffer, 0, lengths === null ? new Uint32Array(N).fill(L) : Uint32Array.from(lengths));
    const initial = acquire(numLayers * (hBytes + cBytes));
    queue.writeBuffer(initial, 0, layeredStates(numLayers, hBytes, cBytes, h0, c0));
    const upstream = acquire(numLayers * (hBytes + cBytes));
    queue.writeBuffer(upstream, 0, layeredStates(numLayers, hBytes, cBytes, gradHN, gradCN));
    const gradOut = acquire(R * D * HO * 4);
    if (gradOutput !== null) queue.writeBuffer(gradOut, 0, gradOutput.buffer, gradOutput.byteOffset, gradOutput.byteLength);

    // What the forward keeps: each layer's output (the next layer's x) and tape.
    const projected = acquire(R * D * GH * 4);
    const outputs = layers.map(() => acquire(R * D * HO * 4));
    const tapes = layers.map(() => acquire(R * D * TW * 4));
    const state = acquire(2 * (hBytes + cBytes));
    // Backward scratch: dh (two halves) then dc; the gate gradients of every step; the output
    // gradient passed down (the input gradient of the layer above).
    const dstate = acquire(2 * hBytes + cBytes);
    const dgx = acquire(R * D * GH * 4);
    const dgh = mode === 'gru' ? acquire(R * D * GH * 4) : dgx;
    const dhTape = P > 0 ? acquire(R * D * P * 4) : null;
    const dxBelow = numLayers > 1 ? acquire(R * D * HO * 4) : null;
    const out = this.resultLayout(L, N);
    const results = acquire(out.total * 4);
    const readBack = acquire(out.total * 4, Usage.readBack);
    // The steps forward, the steps backward (written here), then GEMM_SLOTS per layer (written as encoded).
    const uniforms = acquire((2 * L + GEMM_SLOTS * numLayers) * UNIFORM_SLOT, Usage.uniform);
    const steps = new Uint32Array((2 * L * UNIFORM_SLOT) / 4);
    const stateHalf = (hBytes + cBytes) / 4;
    for (let s = 0; s < L; s++) steps.set([s, L, N, stateHalf, s % 2], (s * UNIFORM_SLOT) / 4);
    for (let k = 0; k < L; k++) steps.set([L - 1 - k, L, N, hBytes / 4, k % 2], ((L + k) * UNIFORM_SLOT) / 4);
    queue.writeBuffer(uniforms, 0, steps);
    const clearGradOut = gradOutput === null;
    return {
      L, N, hBytes, cBytes, out, x0, lengths: lengthsBuffer, initial, upstream, gradOut, clearGradOut, projected, outputs, tapes, state,
      dstate, dgx, dgh, dhTape, dxBelow, results, readBack, uniforms,
    };
  }

  /**
   * The backward as blocks of GPU work, encoded lazily (the file's doc says what each phase does).
   * With a pace (a call that can be cancelled) each block holds about BLOCK_SECONDS of GPU work: runs
   * of steps, GEMMs cut into row tiles and runs of K, column sums into runs of rows; every piece does
   * its share of the one dispatch's arithmetic in the same order, so the result is the same bit for
   * bit. Without a pace, one block per phase of a layer, all submitted at once.
   */
  private *blocks(run: Run, kernels: Kernels, pace: Pace | null): Generator<Block> {
    const { device } = this.host;
    const sizes = this.host.plan;
    const { gates: G, hiddenSize: H, outputSize: HO, projSize: P, numDirections: D, numLayers, hasBias } = sizes;
    const lstm = sizes.mode === 'lstm';
    const { L, N, hBytes, cBytes, out, uniforms, lengths, results, dgx, dgh, dhTape } = run;
    const GH = G * H;
    const R = L * N;
    const S = savedBlocks(sizes);
    const TW = tapeWidth(sizes);
    const { tape: tapeKernel, cell, hidden, columnSum } = kernels;
    const { nt, tn, nn } = kernels.gemm;

    let encoder = device.createCommandEncoder();
    const finish = (kind: string, flops: number): Block => {
      const block = { kind, flops, commands: [encoder.finish()] };
      encoder = device.createCommandEncoder();
      return block;
    };
    // Units (steps, row tiles, runs of K) in the next block: all of them without a pace, else what the budget allows.
    const take = (kind: string, unitFlops: number, left: number): number =>
      pace === null ? left : Math.max(1, Math.min(left, Math.floor(pace.budget(kind) / unitFlops)));
    const group = (c: Compiled, buffers: Record<string, GPUBuffer | null>): GPUBindGroup => this.group(c, uniforms, { ...buffers, lengths });
    // GEMM uniforms are written as each piece is encoded (ordered before its submission), round robin:
    // one submission without a pace uses each slot once; with one, a block holds one piece.
    let gemmSlot = 0;
    const dispatch = (c: Compiled, bound: GPUBindGroup, dims: GemmDims, groups: [number, number, number]): void => {
      const offset = (2 * L + (gemmSlot++ % (GEMM_SLOTS * numLayers))) * UNIFORM_SLOT;
      device.queue.writeBuffer(uniforms, offset, gemmUniform(dims));
      const pass = encoder.beginComputePass();
      pass.setPipeline(c.pipelines.main!);
      pass.setBindGroup(0, bound, [offset]);
      pass.dispatchWorkgroups(...groups);
      pass.end();
    };
    /**
     * One GEMM (`dims` as one dispatch takes them; Z = workgroups along z) in blocks of `kind`. 'rows':
     * runs of row tiles over all of K (the projection and dx, where K is a layer's width); 'depth':
     * every tile, in runs of K of DEPTH_RUN rows or more (the weight gradients, where K is every step's
     * rows, L·N). `last` encodes what goes with the last block.
     */
    function* gemm(kind: string, split: 'rows' | 'depth', c: Compiled, buffers: Record<string, GPUBuffer | null>, dims: GemmDims, Z: number, last?: () => void): Generator<Block> {
      const bound = group(c, buffers);
      const { M, N: columns, K } = dims;
      const tiles = Math.ceil(M / GEMM_TILE);
      const rowFlops = 2 * columns * Z; // one row of C times one row of K
      const groups = (rowTiles: number): [number, number, number] => [Math.ceil(columns / GEMM_TILE), rowTiles, Z];
      if (split === 'rows') {
        for (let t0 = 0; t0 < tiles; ) {
          const t1 = t0 + take(kind, GEMM_TILE * rowFlops * K, tiles - t0);
          dispatch(c, bound, { ...dims, tile0: t0 }, groups(t1 - t0));
          if (t1 === tiles) last?.();
          yield finish(kind, (Math.min(M, t1 * GEMM_TILE) - t0 * GEMM_TILE) * rowFlops * K);
          t0 = t1;
        }
        return;
      }
      for (let k0 = 0; k0 < K; ) {
        const k1 = Math.min(K, k0 + DEPTH_RUN * take(kind, M * rowFlops * DEPTH_RUN, Math.ceil((K - k0) / DEPTH_RUN)));
        dispatch(c, bound, { ...dims, k0, k1 }, groups(tiles));
        if (k1 === K) last?.();
        yield finish(kind, M * rowFlops * (k1 - k0));
        k0 = k1;
      }
    }
    /** A bias gradient: the D·G·H columns of A summed over every running row, in runs of DEPTH_RUN rows or more. */
    function* columnSums(A: GPUBuffer, cOff: number): Generator<Block> {
      const M = D * GH;
      const bound = group(columnSum, { A, C: results });
      for (let k0 = 0; k0 < R; ) {
        const k1 = Math.min(R, k0 + DEPTH_RUN * take('bias-gradient', M * DEPTH_RUN, Math.ceil((R - k0) / DEPTH_RUN)));
        dispatch(columnSum, bound, { M, N: 1, K: R, lda: M, ldb: 0, ldc: 0, cOff, batch: N, maskK: true, k0, k1 }, [Math.ceil(M / 64), 1, 1]);
        yield finish('bias-gradient', M * (k1 - k0));
        k0 = k1;
      }
    }
    const stepFlops = 2 * N * D * (GH * HO + P * H);

    if (run.clearGradOut) encoder.clearBuffer(run.gradOut);
    // 1. Forward, keeping the tapes.
    for (let index = 0; index < numLayers; index++) {
      const layer = this.host.layers[index]!;
      const I = layer.inputSize;
      const x = index === 0 ? run.x0 : run.outputs[index - 1]!;
      const { projected, state } = run;
      yield* gemm('projection', 'rows', nt, { A: x, B: layer.W_ih, bias: layer.bias, C: projected }, { M: R, N: D * GH, K: I, lda: I, ldb: I, ldc: D * GH, hasBias: true }, 1);
      const bound = group(tapeKernel, { W_hhT: layer.W_hhT, projected, state, output: run.outputs[index]!, tape: run.tapes[index]!, b_hn: layer.b_hn, W_hrT: layer.W_hrT });
      for (let s0 = 0; s0 < L; ) {
        const s1 = s0 + take('tape', stepFlops, L - s0);
        if (s0 === 0) {
          encoder.copyBufferToBuffer(run.initial, index * hBytes, state, 0, hBytes);
          if (lstm) encoder.copyBufferToBuffer(run.initial, numLayers * hBytes + index * cBytes, state, hBytes, cBytes);
        }
        const steps = encoder.beginComputePass();
        for (let s = s0; s < s1; s++) {
          steps.setBindGroup(0, bound, [s * UNIFORM_SLOT]);
          steps.setPipeline(tapeKernel.pipelines.main!);
          steps.dispatchWorkgroups(Math.ceil(H / RECUR_WORKGROUP), N, D);
          if (P > 0) {
            steps.setPipeline(tapeKernel.pipelines.project!);
            steps.dispatchWorkgroups(Math.ceil(P / RECUR_WORKGROUP), N, D);
          }
        }
        steps.end();
        yield finish('tape', (s1 - s0) * stepFlops);
        s0 = s1;
      }
    }

    // 2. The layers from the top down.
    let dOut = run.gradOut;
    for (let index = numLayers - 1; index >= 0; index--) {
      const layer = this.host.layers[index]!;
      const I = layer.inputSize;
      const x = index === 0 ? run.x0 : run.outputs[index - 1]!;
      const tape = run.tapes[index]!;
      const at = out.layers[index]!;
      const { dstate } = run;
      const cellGroup = group(cell, { tape, dstate, grad_out: dOut, dgx, dgh, W_hrT: layer.W_hrT, dh_tape: dhTape });
      const hiddenGroup = group(hidden, { tape, dstate, grad_out: dOut, dgh, W_hhT: layer.W_hhT });
      for (let k0 = 0; k0 < L; ) {
        const k1 = k0 + take('steps', stepFlops, L - k0);
        if (k0 === 0) {
          encoder.copyBufferToBuffer(run.upstream, index * hBytes, dstate, 0, hBytes);
          if (lstm) encoder.copyBufferToBuffer(run.upstream, numLayers * hBytes + index * cBytes, dstate, 2 * hBytes, cBytes);
        }
        const steps = encoder.beginComputePass();
        for (let k = k0; k < k1; k++) {
          const offset = [(L + k) * UNIFORM_SLOT];
          steps.setPipeline(cell.pipelines.main!);
          steps.setBindGroup(0, cellGroup, offset);
          steps.dispatchWorkgroups(Math.ceil(H / RECUR_WORKGROUP), N, D);
          steps.setPipeline(hidden.pipelines.main!);
          steps.setBindGroup(0, hiddenGroup, offset);
          steps.dispatchWorkgroups(Math.ceil(HO / RECUR_WORKGROUP), N, D);
        }
        steps.end();
        if (k1 === L) {
          // ∂L/∂h0 is in the half the last step wrote; ∂L/∂c0 in place.
          encoder.copyBufferToBuffer(dstate, (L % 2) * hBytes, results, (out.h0 * 4) + index * hBytes, hBytes);
          if (lstm) encoder.copyBufferToBuffer(dstate, 2 * hBytes, results, (out.c0 * 4) + index * cBytes, cBytes);
        }
        yield finish('steps', (k1 - k0) * stepFlops);
        k0 = k1;
      }

      // Per direction z: dW_ih[z] = Σ_r dgx[r, z·GH + m]·x[r, n], dW_hh[z] = Σ_r dgh[r, z·GH + m]·h_prev[r, z][n].
      const masked = { batch: N, maskK: true };
      yield* gemm('weight-gradient', 'depth', tn, { A: dgx, B: x, bias: layer.bias, C: results }, { M: GH, N: I, K: R, lda: D * GH, ldb: I, ldc: I, aZ: GH, cOff: at.W_ih, cZ: GH * I, ...masked }, D);
      yield* gemm('weight-gradient', 'depth', tn, { A: dgh, B: tape, bias: layer.bias, C: results }, { M: GH, N: HO, K: R, lda: D * GH, ldb: D * TW, ldc: HO, aZ: GH, bOff: S * H, bZ: TW, cOff: at.W_hh, cZ: GH * HO, ...masked }, D);
      if (P > 0) {
        yield* gemm('weight-gradient', 'depth', tn, { A: dhTape, B: tape, bias: layer.bias, C: results }, { M: P, N: H, K: R, lda: D * P, ldb: D * TW, ldc: H, aZ: P, bOff: S * H + HO, bZ: TW, cOff: at.W_hr, cZ: P * H, ...masked }, D);
      }
      if (hasBias) {
        yield* columnSums(dgx, at.b_ih);
        yield* columnSums(dgh, at.b_hh);
      }
      // dx = dgx·W_ih for every row at once (zero past each length): the output gradient of the layer
      // below; the last layer's is the input gradient, and every gradient then goes to the read-back.
      const dx = index === 0 ? results : run.dxBelow!;
      const readBack = (): void => (index === 0 ? encoder.copyBufferToBuffer(results, 0, run.readBack, 0, out.total * 4) : undefined);
      yield* gemm('input-gradient', 'rows', nn, { A: dgx, B: layer.W_ih, bias: layer.bias, C: dx }, { M: R, N: I, K: D * GH, lda: D * GH, ldb: I, ldc: I, cOff: index === 0 ? out.input : 0, batch: N, maskM: true }, 1, readBack);
      dOut = dx;
    }
  }
}
