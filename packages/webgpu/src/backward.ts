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
 * Everything is encoded into one command buffer and submitted once; the buffers come from the model's
 * pool and go back to it afterwards (the next backward of the same shape reuses them).
 */
import type { BackwardPlan, DirectionWeights, EngineGradients, ModelPlan } from '@recurrent/core';
import { throwIfAborted } from '@recurrent/core';
import {
  GEMM_UNIFORM_BYTES, STEP_UNIFORM_BYTES, columnSumShader, gemmUniform, gemmVariantShader, savedBlocks, stepBackwardShader, tapeShader, tapeWidth,
  type GemmDims, type TrainingKernel,
} from './backward-shaders.js';
import { GEMM_TILE, RECUR_WORKGROUP, UNIFORM_SLOT } from './shaders.js';

/** One layer's weight buffers, as the model holds them (model.ts Layer). */
export interface LayerBuffers {
  inputSize: number;
  W_ih: GPUBuffer;
  bias: GPUBuffer;
  W_hhT: GPUBuffer;
  b_hn: GPUBuffer | null;
  W_hrT: GPUBuffer | null;
}

/** What the model lends its backward: the device, its weights and its buffer pool. */
export interface TrainingHost {
  device: GPUDevice;
  plan: ModelPlan;
  layers: readonly LayerBuffers[];
  acquire(bytes: number, usage: number): GPUBuffer;
  release(buffers: GPUBuffer[]): void;
  /** The RnnError for an error the GPU reported (or a rejected read-back) for a backward holding `bytes`. */
  failure(error: unknown, bytes: number): Error;
}

const Usage = {
  storage: 0x0080 | 0x0004 | 0x0008, // STORAGE | COPY_SRC | COPY_DST
  uniform: 0x0040 | 0x0008, // UNIFORM | COPY_DST
  readBack: 0x0001 | 0x0008, // MAP_READ | COPY_DST
} as const;

interface Compiled {
  kernel: TrainingKernel;
  layout: GPUBindGroupLayout;
  pipelines: Record<string, GPUComputePipeline>;
}

/** Where each gradient lies in the one result buffer, in floats. */
interface ResultLayout {
  total: number;
  input: number;
  h0: number;
  c0: number;
  layers: { W_ih: number; b_ih: number; W_hh: number; b_hh: number; W_hr: number }[];
}

export class Backpropagation {
  /** Bytes of GPU buffers the latest backward held (see the README, "Training"). */
  lastBytes = 0;
  private readonly tape: Compiled;
  private readonly cell: Compiled;
  private readonly hidden: Compiled;
  private readonly gemm: { nt: Compiled; tn: Compiled; nn: Compiled };
  private readonly columnSum: Compiled;

  constructor(private readonly host: TrainingHost) {
    const { plan } = host;
    this.tape = this.compile(tapeShader(plan), plan.projSize > 0 ? ['main', 'project'] : ['main']);
    const step = stepBackwardShader(plan);
    this.cell = this.compile(step.cell);
    this.hidden = this.compile(step.hidden);
    this.gemm = {
      nt: this.compile(gemmVariantShader(false, true)),
      tn: this.compile(gemmVariantShader(true, false)),
      nn: this.compile(gemmVariantShader(false, false)),
    };
    this.columnSum = this.compile(columnSumShader());
  }

  private compile(kernel: TrainingKernel, entryPoints = ['main']): Compiled {
    const { device } = this.host;
    const layout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: 4, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: kernel.uniformBytes } },
        ...kernel.bindings.map((b, i): GPUBindGroupLayoutEntry => ({ binding: i + 1, visibility: 4, buffer: { type: b.writable ? 'storage' : 'read-only-storage' } })),
      ],
    });
    const module = device.createShaderModule({ code: kernel.code });
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    const pipelines: Record<string, GPUComputePipeline> = {};
    for (const entryPoint of entryPoints) pipelines[entryPoint] = device.createComputePipeline({ layout: pipelineLayout, compute: { module, entryPoint } });
    return { kernel, layout, pipelines };
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
    throwIfAborted(plan.signal, 'backward');
    const { device } = this.host;
    const { queue } = device;
    const sizes = this.host.plan;
    const { seqLen: L, batch: N, input, h0, c0, lengths, gradOutput, gradHN, gradCN } = plan;
    const { gates: G, hiddenSize: H, outputSize: HO, projSize: P, numDirections: D, numLayers, hasBias } = sizes;
    const lstm = sizes.mode === 'lstm';
    const gru = sizes.mode === 'gru';
    const GH = G * H;
    const R = L * N;
    const S = savedBlocks(sizes);
    const TW = tapeWidth(sizes);
    const layers = this.host.layers;
    const I0 = layers[0]!.inputSize;
    const hBytes = D * N * HO * 4;
    const cBytes = lstm ? D * N * H * 4 : 0;
    const out = this.resultLayout(L, N);

    const held: GPUBuffer[] = [];
    let heldBytes = 0;
    const acquire = (bytes: number, usage: number = Usage.storage): GPUBuffer => {
      const buffer = this.host.acquire(bytes, usage);
      held.push(buffer);
      heldBytes += buffer.size;
      return buffer;
    };
    const release = (): void => this.host.release(held.splice(0));

    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let scopes: Promise<(GPUError | null)[]>;
    let readBack: GPUBuffer;
    try {
      // Inputs: x, lengths, the initial states (h0 then c0, every layer) and the upstream gradients.
      const x0 = acquire(R * I0 * 4);
      queue.writeBuffer(x0, 0, input.buffer, input.byteOffset, input.byteLength);
      const lengthsBuffer = acquire(N * 4);
      queue.writeBuffer(lengthsBuffer, 0, lengths === null ? new Uint32Array(N).fill(L) : Uint32Array.from(lengths));
      const states = new Float32Array(numLayers * (hBytes + cBytes) / 4);
      if (h0 !== null) states.set(h0);
      if (c0 !== null) states.set(c0, (numLayers * hBytes) / 4);
      const initial = acquire(states.byteLength);
      queue.writeBuffer(initial, 0, states);
      const upstreamStates = new Float32Array(numLayers * (hBytes + cBytes) / 4);
      if (gradHN !== null) upstreamStates.set(gradHN);
      if (gradCN !== null) upstreamStates.set(gradCN, (numLayers * hBytes) / 4);
      const upstream = acquire(upstreamStates.byteLength);
      queue.writeBuffer(upstream, 0, upstreamStates);
      const encoder = device.createCommandEncoder();
      const gradOut = acquire(R * D * HO * 4);
      if (gradOutput !== null) queue.writeBuffer(gradOut, 0, gradOutput.buffer, gradOutput.byteOffset, gradOutput.byteLength);
      else encoder.clearBuffer(gradOut);

      // What the forward keeps: each layer's output (the next layer's x) and tape.
      const projected = acquire(R * D * GH * 4);
      const outputs = layers.map(() => acquire(R * D * HO * 4));
      const tapes = layers.map(() => acquire(R * D * TW * 4));
      const state = acquire(2 * (hBytes + cBytes));
      // Backward scratch: dh (two halves) then dc; the gate gradients of every step; the output
      // gradient passed down (the input gradient of the layer above).
      const dstate = acquire(2 * hBytes + cBytes);
      const dgx = acquire(R * D * GH * 4);
      const dgh = gru ? acquire(R * D * GH * 4) : dgx;
      const dhTape = P > 0 ? acquire(R * D * P * 4) : null;
      const dxBelow = numLayers > 1 ? acquire(R * D * HO * 4) : null;
      const results = acquire(out.total * 4);
      readBack = acquire(out.total * 4, Usage.readBack);

      // Uniform slots: the steps forward, the steps backward, then every GEMM in order.
      const gemmCount = numLayers * 7;
      const uniforms = acquire((2 * L + gemmCount) * UNIFORM_SLOT, Usage.uniform);
      const slotData = new Uint32Array(((2 * L + gemmCount) * UNIFORM_SLOT) / 4);
      const stateHalf = (hBytes + cBytes) / 4;
      for (let s = 0; s < L; s++) slotData.set([s, L, N, stateHalf, s % 2], (s * UNIFORM_SLOT) / 4);
      for (let k = 0; k < L; k++) slotData.set([L - 1 - k, L, N, hBytes / 4, k % 2], ((L + k) * UNIFORM_SLOT) / 4);
      let gemmSlot = 2 * L;

      /** One GEMM (or column sum) dispatch in `pass`, its dims in the next uniform slot. */
      const dispatchGemm = (pass: GPUComputePassEncoder, c: Compiled, buffers: Record<string, GPUBuffer | null>, dims: GemmDims, groups: [number, number, number]): void => {
        const slot = gemmSlot++;
        slotData.set(gemmUniform(dims), (slot * UNIFORM_SLOT) / 4);
        pass.setPipeline(c.pipelines.main!);
        pass.setBindGroup(0, this.group(c, uniforms, { ...buffers, lengths: lengthsBuffer }), [slot * UNIFORM_SLOT]);
        pass.dispatchWorkgroups(...groups);
      };
      const tiles = (n: number): number => Math.ceil(n / GEMM_TILE);

      // 1. Forward, keeping the tapes.
      for (let index = 0; index < numLayers; index++) {
        const layer = layers[index]!;
        const I = layer.inputSize;
        const x = index === 0 ? x0 : outputs[index - 1]!;
        const pass = encoder.beginComputePass();
        dispatchGemm(pass, this.gemm.nt, { A: x, B: layer.W_ih, bias: layer.bias, C: projected }, { M: R, N: D * GH, K: I, lda: I, ldb: I, ldc: D * GH, hasBias: true }, [tiles(D * GH), tiles(R), 1]);
        pass.end();
        encoder.copyBufferToBuffer(initial, index * hBytes, state, 0, hBytes);
        if (lstm) encoder.copyBufferToBuffer(initial, numLayers * hBytes + index * cBytes, state, hBytes, cBytes);
        const group = this.group(this.tape, uniforms, { W_hhT: layer.W_hhT, projected, lengths: lengthsBuffer, state, output: outputs[index]!, tape: tapes[index]!, b_hn: layer.b_hn, W_hrT: layer.W_hrT });
        const steps = encoder.beginComputePass();
        for (let s = 0; s < L; s++) {
          steps.setBindGroup(0, group, [s * UNIFORM_SLOT]);
          steps.setPipeline(this.tape.pipelines.main!);
          steps.dispatchWorkgroups(Math.ceil(H / RECUR_WORKGROUP), N, D);
          if (P > 0) {
            steps.setPipeline(this.tape.pipelines.project!);
            steps.dispatchWorkgroups(Math.ceil(P / RECUR_WORKGROUP), N, D);
          }
        }
        steps.end();
      }

      // 2. The layers from the top down.
      let dOut = gradOut;
      for (let index = numLayers - 1; index >= 0; index--) {
        const layer = layers[index]!;
        const I = layer.inputSize;
        const x = index === 0 ? x0 : outputs[index - 1]!;
        const tape = tapes[index]!;
        const at = out.layers[index]!;
        encoder.copyBufferToBuffer(upstream, index * hBytes, dstate, 0, hBytes);
        if (lstm) encoder.copyBufferToBuffer(upstream, numLayers * hBytes + index * cBytes, dstate, 2 * hBytes, cBytes);
        const cellGroup = this.group(this.cell, uniforms, { tape, lengths: lengthsBuffer, dstate, grad_out: dOut, dgx, dgh, W_hrT: layer.W_hrT, dh_tape: dhTape });
        const hiddenGroup = this.group(this.hidden, uniforms, { tape, lengths: lengthsBuffer, dstate, grad_out: dOut, dgh, W_hhT: layer.W_hhT });
        const steps = encoder.beginComputePass();
        for (let k = 0; k < L; k++) {
          const offset = [(L + k) * UNIFORM_SLOT];
          steps.setPipeline(this.cell.pipelines.main!);
          steps.setBindGroup(0, cellGroup, offset);
          steps.dispatchWorkgroups(Math.ceil(H / RECUR_WORKGROUP), N, D);
          steps.setPipeline(this.hidden.pipelines.main!);
          steps.setBindGroup(0, hiddenGroup, offset);
          steps.dispatchWorkgroups(Math.ceil(HO / RECUR_WORKGROUP), N, D);
        }
        steps.end();
        // ∂L/∂h0 is in the half the last step wrote; ∂L/∂c0 in place.
        encoder.copyBufferToBuffer(dstate, (L % 2) * hBytes, results, (out.h0 * 4) + index * hBytes, hBytes);
        if (lstm) encoder.copyBufferToBuffer(dstate, 2 * hBytes, results, (out.c0 * 4) + index * cBytes, cBytes);

        const masked = { batch: N, maskK: true };
        const pass = encoder.beginComputePass();
        const { tn, nn } = this.gemm;
        // Per direction z: dW_ih[z] = Σ_r dgx[r, z·GH + m]·x[r, n], dW_hh[z] = Σ_r dgh[r, z·GH + m]·h_prev[r, z][n].
        dispatchGemm(pass, tn, { A: dgx, B: x, bias: layer.bias, C: results }, { M: GH, N: I, K: R, lda: D * GH, ldb: I, ldc: I, aZ: GH, cOff: at.W_ih, cZ: GH * I, ...masked }, [tiles(I), tiles(GH), D]);
        dispatchGemm(pass, tn, { A: dgh, B: tape, bias: layer.bias, C: results }, { M: GH, N: HO, K: R, lda: D * GH, ldb: D * TW, ldc: HO, aZ: GH, bOff: S * H, bZ: TW, cOff: at.W_hh, cZ: GH * HO, ...masked }, [tiles(HO), tiles(GH), D]);
        if (P > 0) {
          dispatchGemm(pass, tn, { A: dhTape, B: tape, bias: layer.bias, C: results }, { M: P, N: H, K: R, lda: D * P, ldb: D * TW, ldc: H, aZ: P, bOff: S * H + HO, bZ: TW, cOff: at.W_hr, cZ: P * H, ...masked }, [tiles(H), tiles(P), D]);
        }
        if (hasBias) {
          const sums = (A: GPUBuffer, cOff: number) =>
            dispatchGemm(pass, this.columnSum, { A, C: results }, { M: D * GH, N: 1, K: R, lda: D * GH, ldb: 0, ldc: 0, cOff, ...masked }, [Math.ceil((D * GH) / 64), 1, 1]);
          sums(dgx, at.b_ih);
          sums(dgh, at.b_hh);
        }
        // dx = dgx·W_ih for every row at once (zero past each length): the output gradient of the layer below.
        const dx = index === 0 ? results : dxBelow!;
        dispatchGemm(pass, nn, { A: dgx, B: layer.W_ih, bias: layer.bias, C: dx }, { M: R, N: I, K: D * GH, lda: D * GH, ldb: I, ldc: I, cOff: index === 0 ? out.input : 0, batch: N, maskM: true }, [tiles(I), tiles(R), 1]);
        pass.end();
        dOut = dx;
      }
      encoder.copyBufferToBuffer(results, 0, readBack, 0, out.total * 4);
      queue.writeBuffer(uniforms, 0, slotData);
      queue.submit([encoder.finish()]);
    } catch (error) {
      release();
      throw error;
    } finally {
      scopes = Promise.all([device.popErrorScope(), device.popErrorScope()]);
    }
    this.lastBytes = heldBytes;

    try {
      try {
        await readBack.mapAsync(1 /* GPUMapMode.READ */, 0, out.total * 4);
      } catch (error) {
        const [validation, memory] = await scopes.catch(() => [null, null]);
        throw this.host.failure(memory ?? validation ?? error, heldBytes);
      }
      const [validation, memory] = await scopes.catch(() => [null, null]);
      if (memory ?? validation) {
        readBack.unmap();
        throw this.host.failure(memory ?? validation, heldBytes);
      }
      const mapped = new Float32Array(readBack.getMappedRange(0, out.total * 4));
      const take = (at: number, floats: number): Float32Array => mapped.slice(at, at + floats);
      const gradients: DirectionWeights[][] = layers.map(({ inputSize: I }, index) => {
        const at = out.layers[index]!;
        return Array.from({ length: D }, (_, d) => ({
          W_ih: take(at.W_ih + d * GH * I, GH * I),
          W_hh: take(at.W_hh + d * GH * HO, GH * HO),
          b_ih: hasBias ? take(at.b_ih + d * GH, GH) : null,
          b_hh: hasBias ? take(at.b_hh + d * GH, GH) : null,
          W_hr: P > 0 ? take(at.W_hr + d * P * H, P * H) : null,
        }));
      });
      const result: EngineGradients = { input: take(out.input, R * I0), h0: take(out.h0, numLayers * D * N * HO), layers: gradients };
      if (lstm) result.c0 = take(out.c0, numLayers * D * N * H);
      readBack.unmap();
      return result;
    } finally {
      release();
    }
  }
}
