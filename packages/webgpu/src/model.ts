import type { EngineModel, EngineResult, ForwardPlan, ModelPlan } from '@recurrent/core';
import { RnnError } from '@recurrent/core';
import { checkForwardLimits, checkModelLimits, persistentMisfit, type ModelSizes } from './limits.js';
import { GEMM_TILE, RECUR_WORKGROUP, UNIFORM_SLOT, gemmShader, persistentRecurrenceShader, recurrenceShader, type Kernel, type Resource } from './shaders.js';

/** What a backend shares with its models: the device and whether it is still usable. */
export interface DeviceState {
  device: GPUDevice;
  /** Set once the device is lost (destroyed by anyone, driver reset, …). */
  lost: GPUDeviceLostInfo | null;
  disposed: boolean;
  /** GPU buffers alive across all models of the backend, for Backend.stats() (leak checks). */
  liveBuffers: number;
  liveBufferBytes: number;
}

/**
 * How the recurrence runs. 'persistent': one dispatch per layer, workgroup (b, d) loops over all L steps
 * with its states in workgroup memory. 'per-step': one dispatch per step (two for a projected LSTM; both
 * directions in it), states ping-ponging between two storage buffers; used when a sequence's states do
 * not fit in workgroup memory (see persistentMisfit).
 */
export type RecurrenceKernel = 'persistent' | 'per-step';

/** Seconds spent in each phase of one profiled forward (see WebGpuModel.profile). */
export interface Timings {
  projection: number;
  recurrence: number;
  readBack: number;
  /** GPU timestamps around each pass (read-back = the rest of the wall time), or phases submitted one by one. */
  method: 'timestamp-query' | 'separate submissions';
}

type Phase = 'projection' | 'recurrence' | 'readBack';

const Usage = {
  storageIn: 0x0080 | 0x0008, // STORAGE | COPY_DST
  storageOut: 0x0080 | 0x0004, // STORAGE | COPY_SRC
  state: 0x0080 | 0x0004 | 0x0008, // STORAGE | COPY_SRC | COPY_DST
  uniform: 0x0040 | 0x0008, // UNIFORM | COPY_DST
  readBack: 0x0001 | 0x0008, // MAP_READ | COPY_DST
} as const;

/** Free GPU buffers by usage, reused by later shapes; every buffer ever made is destroyed on dispose. */
class BufferPool {
  private readonly free: GPUBuffer[] = [];
  private readonly all = new Set<GPUBuffer>();

  constructor(private readonly state: DeviceState) {}

  acquire(bytes: number, usage: number): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const index = this.free.findIndex((b) => b.usage === usage && b.size >= size && b.size <= 2 * size);
    if (index >= 0) return this.free.splice(index, 1)[0]!;
    const buffer = this.state.device.createBuffer({ size, usage });
    this.all.add(buffer);
    this.state.liveBuffers++;
    this.state.liveBufferBytes += size;
    return buffer;
  }

  release(buffers: GPUBuffer[]): void {
    this.free.push(...buffers);
  }

  /** Destroys the free buffers nobody took, so a model holds at most one shape's buffers. */
  trim(): void {
    for (const buffer of this.free.splice(0)) {
      buffer.destroy();
      this.all.delete(buffer);
      this.state.liveBuffers--;
      this.state.liveBufferBytes -= buffer.size;
    }
  }

  destroyAll(): void {
    for (const buffer of this.all) {
      buffer.destroy();
      this.state.liveBuffers--;
      this.state.liveBufferBytes -= buffer.size;
    }
    this.all.clear();
    this.free.length = 0;
  }
}

/** One layer's weights on the GPU (G gates, H hidden units, HO = H_out, P = projSize). */
interface Layer {
  inputSize: number;
  /** (D·G·H, inputSize): W_ih of the forward direction, then the reverse one. */
  W_ih: GPUBuffer;
  /** (D·G·H): b_ih + b_hh per direction (GRU's gate n: b_in only), zeros without bias. */
  bias: GPUBuffer;
  /** (D, HO, G·H): each direction's W_hh transposed, so that invocations read consecutive units. */
  W_hhT: GPUBuffer;
  /** GRU: (D, H), b_hn, which sits inside r ⊙ (…) and cannot join the projection. */
  b_hn: GPUBuffer | null;
  /** Projected LSTM: (D, H, P), each direction's W_hr transposed. */
  W_hrT: GPUBuffer | null;
}

/** Buffers, uniforms and bind groups for one (L, N): rebuilt only when the shape changes. */
interface Work {
  L: number;
  N: number;
  buffers: GPUBuffer[];
  x: GPUBuffer;
  /** h0 (layers·D, N, HO), then an LSTM's c0 (layers·D, N, H). */
  state0: GPUBuffer;
  lengths: GPUBuffer;
  /** Per-step kernel only: ping-pong states, h (D, N, HO) then c (D, N, H); [L % 2] holds the last ones. */
  states: GPUBuffer[];
  /** h_n then c_n, laid out as state0. */
  stateN: GPUBuffer;
  /** Layer outputs alternate between these (L, N, D·HO). */
  outputs: [GPUBuffer, GPUBuffer];
  readBack: GPUBuffer;
  /** Bytes read back: the output (L, N, D·HO), then stateN. */
  readBytes: number;
  gemmGroups: GPUBindGroup[];
  /** Per layer: per-step kernel [reads states 0, reads states 1]; persistent kernel [its one group]. */
  recurGroups: GPUBindGroup[][];
}

/** Each direction's (rows, cols) matrix transposed to (cols, rows), directions one after another. */
function transposed(matrices: Float32Array[], rows: number, cols: number): Float32Array {
  const out = new Float32Array(matrices.length * rows * cols);
  matrices.forEach((m, d) => {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[d * rows * cols + c * rows + r] = m[r * cols + c]!;
  });
  return out;
}

/** Per direction: b_ih + b_hh for every gate row, but b_ih alone for GRU's gate n (its b_hn stays in the cell). */
function foldedBias(plan: ModelPlan, layer: number): Float32Array {
  const GH = plan.gates * plan.hiddenSize;
  const gateN = plan.mode === 'gru' ? 2 * plan.hiddenSize : GH;
  const bias = new Float32Array(plan.numDirections * GH);
  plan.layers[layer]!.directions.forEach(({ b_ih, b_hh }, d) => {
    if (b_ih && b_hh) for (let r = 0; r < GH; r++) bias[d * GH + r] = r < gateN ? b_ih[r]! + b_hh[r]! : b_ih[r]!;
  });
  return bias;
}

function gruHiddenBias(plan: ModelPlan, layer: number): Float32Array {
  const H = plan.hiddenSize;
  const b_hn = new Float32Array(plan.numDirections * H);
  plan.layers[layer]!.directions.forEach(({ b_hh }, d) => {
    if (b_hh) b_hn.set(b_hh.subarray(2 * H, 3 * H), d * H);
  });
  return b_hn;
}

export class WebGpuModel implements EngineModel {
  readonly backend: string;
  private readonly device: GPUDevice;
  private readonly sizes: ModelSizes;
  private readonly lstm: boolean;
  private readonly pool: BufferPool;
  private readonly layers: Layer[];
  private readonly gemmPipeline: GPUComputePipeline;
  private readonly recurKernel: Kernel;
  private readonly recurPipeline: GPUComputePipeline;
  /** Per-step kernel of a projected LSTM: h_t = u · W_hrᵀ, a second dispatch per step. */
  private readonly projectPipeline: GPUComputePipeline | null;
  readonly kernel: RecurrenceKernel;
  private readonly gemmLayout: GPUBindGroupLayout;
  private readonly recurLayout: GPUBindGroupLayout;
  private work: Work | null = null;
  /** Forwards run one after another on the shared work buffers: concurrent calls queue here. */
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(private readonly state: DeviceState, plan: ModelPlan, description: string, kernel?: RecurrenceKernel) {
    const { device } = state;
    this.device = device;
    this.sizes = plan;
    this.lstm = plan.mode === 'lstm';
    const { gates: G, hiddenSize: H, outputSize: Hout, projSize: P, numDirections: D } = plan;
    // Every check before the first upload, so a limit error leaves nothing behind.
    checkModelLimits(plan, device.limits);
    const misfit = persistentMisfit(plan, device.limits);
    if (kernel === 'persistent' && misfit) throw misfit;
    this.kernel = kernel ?? (misfit ? 'per-step' : 'persistent');
    this.backend = `webgpu${this.kernel === 'per-step' ? '-per-step' : ''} (${description})`;

    this.pool = new BufferPool(state);
    this.layers = plan.layers.map(({ inputSize, directions }, index) => {
      const W_ih = new Float32Array(D * G * H * inputSize);
      directions.forEach(({ W_ih: w }, d) => W_ih.set(w, d * G * H * inputSize));
      return {
        inputSize,
        W_ih: this.upload(W_ih),
        bias: this.upload(foldedBias(plan, index)),
        W_hhT: this.upload(transposed(directions.map((w) => w.W_hh), G * H, Hout)),
        b_hn: plan.mode === 'gru' ? this.upload(gruHiddenBias(plan, index)) : null,
        W_hrT: P > 0 ? this.upload(transposed(directions.map((w) => w.W_hr!), P, H)) : null,
      };
    });

    const storage = (binding: number, writable: boolean): GPUBindGroupLayoutEntry => ({
      binding,
      visibility: 4, // GPUShaderStage.COMPUTE
      buffer: { type: writable ? 'storage' : 'read-only-storage' },
    });
    const dynamicUniform: GPUBindGroupLayoutEntry = {
      binding: 0,
      visibility: 4,
      buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: 16 },
    };
    this.gemmLayout = device.createBindGroupLayout({
      entries: [dynamicUniform, storage(1, false), storage(2, false), storage(3, false), storage(4, true)],
    });
    this.recurKernel = this.kernel === 'persistent' ? persistentRecurrenceShader(plan) : recurrenceShader(plan);
    this.recurLayout = device.createBindGroupLayout({
      entries: [dynamicUniform, ...this.recurKernel.bindings.map((b, i) => storage(i + 1, b.writable))],
    });
    const pipeline = (module: GPUShaderModule, layout: GPUBindGroupLayout, entryPoint = 'main'): GPUComputePipeline =>
      device.createComputePipeline({ layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint } });
    this.gemmPipeline = pipeline(device.createShaderModule({ code: gemmShader() }), this.gemmLayout);
    const recurModule = device.createShaderModule({ code: this.recurKernel.code });
    this.recurPipeline = pipeline(recurModule, this.recurLayout);
    this.projectPipeline = this.kernel === 'per-step' && P > 0 ? pipeline(recurModule, this.recurLayout, 'project') : null;
  }

  forward(plan: ForwardPlan): Promise<EngineResult> {
    const run = this.queue.then(() => this.run(plan, null));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * A forward that also says where the time went, for benchmarks. With 'timestamp-query' on the device
   * it runs as forward() does, timestamps around every pass; otherwise each phase (each layer's
   * projection, its recurrence, the read-back) is submitted and waited for on its own.
   */
  profile(plan: ForwardPlan): Promise<{ result: EngineResult; timings: Timings }> {
    const timestamps = this.device.features.has('timestamp-query');
    const timings: Timings = { projection: 0, recurrence: 0, readBack: 0, method: timestamps ? 'timestamp-query' : 'separate submissions' };
    const run = this.queue.then(() => this.run(plan, timings));
    this.queue = run.catch(() => undefined);
    return run.then((result) => ({ result, timings }));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.work = null;
    this.pool.destroyAll();
  }

  private checkUsable(): void {
    if (this.disposed) throw new RnnError('disposed', 'This WebGPU model was disposed: create a new one (createRnn, createLstm, createGru)');
    if (this.state.disposed) throw new RnnError('disposed', 'The WebGPU backend of this model was disposed: create a new backend with createBackend()');
    if (this.state.lost) throw this.deviceLost();
  }

  private deviceLost(cause?: unknown): RnnError {
    const info = this.state.lost;
    const why = info ? `${info.reason}${info.message ? `: ${info.message}` : ''}` : String(cause);
    return new RnnError('device-lost', `The GPU device was lost (${why}): create a new backend with createBackend() and a new model`, { reason: info?.reason }, { cause });
  }

  private upload(data: Float32Array): GPUBuffer {
    const buffer = this.pool.acquire(data.byteLength, Usage.storageIn);
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  private async run(plan: ForwardPlan, timings: Timings | null): Promise<EngineResult> {
    this.checkUsable();
    const { seqLen: L, batch: N, input, h0, c0, lengths } = plan;
    const { device } = this;
    const { outputSize: Hout, hiddenSize: H, numDirections: D, numLayers } = this.sizes;
    checkForwardLimits(this.sizes, L, N, device.limits);
    const queue = device.queue;

    // Scopes are pushed and popped with no await in between, so models sharing a device never pop
    // each other's scopes.
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let scopes: Promise<[GPUError | null, GPUError | null]>;
    let work: Work;
    let encoded: ReturnType<WebGpuModel['encode']>;
    let timestamps: PassTimestamps | null = null;
    let submitted: number;
    try {
      work = this.workFor(L, N);
      queue.writeBuffer(work.x, 0, input.buffer, input.byteOffset, input.byteLength);
      if (h0 !== null) queue.writeBuffer(work.state0, 0, h0.buffer, h0.byteOffset, h0.byteLength);
      if (c0 !== null) queue.writeBuffer(work.state0, this.layerBytes(N).h * numLayers, c0.buffer, c0.byteOffset, c0.byteLength);
      queue.writeBuffer(work.lengths, 0, lengths === null ? new Uint32Array(N).fill(L) : Uint32Array.from(lengths));
      if (timings?.method === 'timestamp-query') timestamps = new PassTimestamps(device, 2 * this.layers.length);
      encoded = this.encode(plan, work, timestamps?.querySet ?? null);
      submitted = performance.now();
      if (timings === null || timestamps !== null) queue.submit(encoded.phases.map((p) => p.commands));
      if (timestamps !== null) queue.submit([timestamps.resolve()]);
    } finally {
      scopes = Promise.all([device.popErrorScope(), device.popErrorScope()]);
    }
    const { phases, passes } = encoded;

    const readBytes = work.readBytes;
    try {
      if (timestamps !== null) {
        await work.readBack.mapAsync(1 /* GPUMapMode.READ */, 0, readBytes);
        const wall = (performance.now() - submitted) / 1000;
        const spans = await timestamps.read();
        passes.forEach((phase, i) => (timings![phase] += spans[i]!));
        timings!.readBack = Math.max(0, wall - timestamps.gpuSpan);
      } else if (timings !== null) {
        // Each phase submitted and waited for on its own, to see where the time goes.
        for (const { phase, commands } of phases) {
          const start = performance.now();
          queue.submit([commands]);
          if (phase === 'readBack') await work.readBack.mapAsync(1 /* GPUMapMode.READ */, 0, readBytes);
          else await queue.onSubmittedWorkDone();
          timings[phase] += (performance.now() - start) / 1000;
        }
      } else {
        await work.readBack.mapAsync(1 /* GPUMapMode.READ */, 0, readBytes);
      }
    } catch (error) {
      if (this.disposed || this.state.disposed) this.checkUsable();
      if (this.state.lost || (error instanceof Error && error.name === 'AbortError')) throw this.deviceLost(error);
      const [validation, memory] = await scopes.catch(() => [null, null]);
      throw this.gpuError(memory ?? validation ?? error);
    }
    const [validation, memory] = await scopes.catch(() => [null, null]);
    if (memory ?? validation) {
      work.readBack.unmap();
      throw this.gpuError(memory ?? validation);
    }
    const mapped = new Float32Array(work.readBack.getMappedRange(0, readBytes));
    const outputEnd = L * N * D * Hout;
    const hNEnd = outputEnd + numLayers * D * N * Hout;
    const result: EngineResult = { output: mapped.slice(0, outputEnd), hN: mapped.slice(outputEnd, hNEnd) };
    if (this.lstm) result.cN = mapped.slice(hNEnd, hNEnd + numLayers * D * N * H);
    work.readBack.unmap();
    return result;
  }

  private gpuError(error: unknown): RnnError {
    if (this.state.lost) return this.deviceLost(error);
    const message = error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error) ? (error as { message: string }).message : String(error);
    if ((error as object | null)?.constructor?.name === 'GPUOutOfMemoryError') {
      return new RnnError('limit', `The GPU ran out of memory for this forward (${message}): try a smaller batch or shorter sequences`, {}, { cause: error });
    }
    return new RnnError('internal', `WebGPU reported an error running the model (a bug in @recurrent/webgpu, please report it): ${message}`, {}, { cause: error });
  }

  /** Bytes of one layer's h (D, N, HO) and c (D, N, H, zero unless LSTM) states. */
  private layerBytes(N: number): { h: number; c: number } {
    const { hiddenSize: H, outputSize: Hout, numDirections: D } = this.sizes;
    return { h: D * N * Hout * 4, c: this.lstm ? D * N * H * 4 : 0 };
  }

  /**
   * Every layer: the projection GEMM, then the recurrence (one dispatch, or L dispatches with the
   * states ping-ponging), h_n (c_n) out; then the last layer's output and the states into the
   * read-back buffer. Returned as phases so profile() can time them.
   */
  private encode(plan: ForwardPlan, work: Work, querySet: GPUQuerySet | null): { phases: { phase: Phase; commands: GPUCommandBuffer }[]; passes: Phase[] } {
    const { seqLen: L, batch: N, h0, c0 } = plan;
    const { device } = this;
    const { gates: G, hiddenSize: H, outputSize: Hout, projSize: P, numDirections: D, numLayers } = this.sizes;
    const bytes = this.layerBytes(N);
    // Where c states start in state0 and stateN.
    const cStart = numLayers * bytes.h;
    const phases: { phase: Phase; commands: GPUCommandBuffer }[] = [];
    let encoder = device.createCommandEncoder();
    const endPhase = (phase: Phase): void => {
      phases.push({ phase, commands: encoder.finish() });
      encoder = device.createCommandEncoder();
    };
    // Which phase each compute pass belongs to; with a query set, timestamps around each pass.
    const passes: Phase[] = [];
    const beginPass = (phase: Phase): GPUComputePassEncoder => {
      const i = passes.push(phase) - 1;
      return encoder.beginComputePass(querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } } : {});
    };

    if (h0 === null) encoder.clearBuffer(work.state0, 0, cStart);
    if (c0 === null && this.lstm) encoder.clearBuffer(work.state0, cStart, numLayers * bytes.c);
    for (let index = 0; index < numLayers; index++) {
      // x · W_ihᵀ + b_ih + b_hh for every step, gate and direction: one GEMM.
      const gemm = beginPass('projection');
      gemm.setPipeline(this.gemmPipeline);
      gemm.setBindGroup(0, work.gemmGroups[index]!, [index * UNIFORM_SLOT]);
      gemm.dispatchWorkgroups(Math.ceil((D * G * H) / GEMM_TILE), Math.ceil((L * N) / GEMM_TILE));
      gemm.end();
      endPhase('projection');

      if (this.kernel === 'persistent') {
        // All L steps in one dispatch: a workgroup per (sequence, direction).
        const recur = beginPass('recurrence');
        recur.setPipeline(this.recurPipeline);
        recur.setBindGroup(0, work.recurGroups[index]![0]!, [index * UNIFORM_SLOT]);
        recur.dispatchWorkgroups(N, D);
        recur.end();
      } else {
        const [first] = work.states as [GPUBuffer];
        encoder.copyBufferToBuffer(work.state0, index * bytes.h, first, 0, bytes.h);
        if (this.lstm) encoder.copyBufferToBuffer(work.state0, cStart + index * bytes.c, first, bytes.h, bytes.c);
        // One dispatch per step (two when projected) with both directions in it, states ping-ponging.
        const steps = beginPass('recurrence');
        for (let step = 0; step < L; step++) {
          steps.setBindGroup(0, work.recurGroups[index]![step % 2]!, [step * UNIFORM_SLOT]);
          steps.setPipeline(this.recurPipeline);
          steps.dispatchWorkgroups(Math.ceil(H / RECUR_WORKGROUP), N, D);
          if (this.projectPipeline !== null) {
            steps.setPipeline(this.projectPipeline);
            steps.dispatchWorkgroups(Math.ceil(P / RECUR_WORKGROUP), N, D);
          }
        }
        steps.end();
        // The last states: the forward direction froze at each length, the reverse one ran to t = 0.
        const last = work.states[L % 2]!;
        encoder.copyBufferToBuffer(last, 0, work.stateN, index * bytes.h, bytes.h);
        if (this.lstm) encoder.copyBufferToBuffer(last, bytes.h, work.stateN, cStart + index * bytes.c, bytes.c);
      }
      endPhase('recurrence');
    }
    const outputBytes = L * N * D * Hout * 4;
    encoder.copyBufferToBuffer(work.outputs[(numLayers - 1) % 2]!, 0, work.readBack, 0, outputBytes);
    encoder.copyBufferToBuffer(work.stateN, 0, work.readBack, outputBytes, numLayers * (bytes.h + bytes.c));
    endPhase('readBack');
    return { phases, passes };
  }

  /** A bind group of the recurrence kernel, its buffers picked by the names the kernel binds. */
  private recurGroup(uniforms: GPUBuffer, resources: Partial<Record<Resource, GPUBuffer>>): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniforms, size: 16 } }];
    this.recurKernel.bindings.forEach(({ name }, i) => {
      const buffer = resources[name];
      if (buffer === undefined) throw new RnnError('internal', `the recurrence kernel binds ${name}, which this model has no buffer for`);
      entries.push({ binding: i + 1, resource: { buffer } });
    });
    return this.device.createBindGroup({ layout: this.recurLayout, entries });
  }

  /** The buffers and bind groups for this shape, reusing the last ones when the shape is the same. */
  private workFor(L: number, N: number): Work {
    if (this.work !== null && this.work.L === L && this.work.N === N) return this.work;
    if (this.work !== null) this.pool.release(this.work.buffers);
    const { device, pool, layers } = this;
    const { gates: G, hiddenSize: H, outputSize: Hout, projSize: P, numDirections: D, numLayers } = this.sizes;
    const bytes = this.layerBytes(N);
    const outputBytes = L * N * D * Hout * 4;
    const buffers: GPUBuffer[] = [];
    const acquire = (size: number, usage: number): GPUBuffer => {
      const buffer = pool.acquire(size, usage);
      buffers.push(buffer);
      return buffer;
    };
    const x = acquire(L * N * layers[0]!.inputSize * 4, Usage.storageIn);
    const state0 = acquire(numLayers * (bytes.h + bytes.c), Usage.state);
    const stateN = acquire(numLayers * (bytes.h + bytes.c), Usage.state);
    const lengths = acquire(N * 4, Usage.storageIn);
    const projected = acquire(L * N * D * G * H * 4, Usage.state);
    const outputs: [GPUBuffer, GPUBuffer] = [acquire(outputBytes, Usage.storageOut), acquire(outputBytes, Usage.storageOut)];
    const readBytes = outputBytes + numLayers * (bytes.h + bytes.c);
    const readBack = acquire(readBytes, Usage.readBack);

    // Uniform slots (dynamic offsets): per layer (M, N, K) of its GEMM and (L, N, offsets of this
    // layer's h and c in state0/stateN) of the persistent kernel; per step (step, L, N, offset of c)
    // for the per-step kernel. Offsets in floats.
    const uniforms = (slots: number[][]): GPUBuffer => {
      const buffer = acquire(slots.length * UNIFORM_SLOT, Usage.uniform);
      const data = new Uint32Array((slots.length * UNIFORM_SLOT) / 4);
      slots.forEach((slot, i) => data.set(slot, (i * UNIFORM_SLOT) / 4));
      device.queue.writeBuffer(buffer, 0, data);
      return buffer;
    };
    const gemmDims = uniforms(layers.map((layer) => [L * N, D * G * H, layer.inputSize, 0]));
    const gemmGroups = layers.map((layer, index) =>
      device.createBindGroup({
        layout: this.gemmLayout,
        entries: [gemmDims, index === 0 ? x : outputs[(index - 1) % 2]!, layer.W_ih, layer.bias, projected].map((buffer, binding) => ({
          binding,
          resource: binding === 0 ? { buffer, size: 16 } : { buffer },
        })),
      }),
    );
    const weights = (layer: Layer) => ({ W_hhT: layer.W_hhT, b_hn: layer.b_hn ?? undefined, W_hrT: layer.W_hrT ?? undefined, projected, lengths });
    let recurGroups: GPUBindGroup[][];
    let states: GPUBuffer[] = [];
    if (this.kernel === 'persistent') {
      const cStart = numLayers * bytes.h;
      const layerDims = uniforms(layers.map((_, index) => [L, N, (index * bytes.h) / 4, (cStart + index * bytes.c) / 4]));
      recurGroups = layers.map((layer, index) => [this.recurGroup(layerDims, { ...weights(layer), state0, stateN, output: outputs[index % 2]! })]);
    } else {
      states = [acquire(bytes.h + bytes.c, Usage.state), acquire(bytes.h + bytes.c, Usage.state)];
      const u = P > 0 ? acquire(D * N * H * 4, Usage.state) : undefined;
      const steps = uniforms(Array.from({ length: L }, (_, step) => [step, L, N, bytes.h / 4]));
      recurGroups = layers.map((layer, index) => {
        const output = outputs[index % 2]!;
        const reading = (from: number) => this.recurGroup(steps, { ...weights(layer), output, u, state_prev: states[from], state_next: states[1 - from] });
        return [reading(0), reading(1)];
      });
    }
    pool.trim();
    this.work = { L, N, x, state0, stateN, lengths, states, outputs, readBack, readBytes, gemmGroups, recurGroups, buffers };
    return this.work;
  }
}

/** Timestamps written at the beginning and end of each compute pass, for profile(). */
class PassTimestamps {
  readonly querySet: GPUQuerySet;
  private readonly resolved: GPUBuffer;
  private readonly readable: GPUBuffer;
  /** Seconds from the first pass's beginning to the last one's end, once read. */
  gpuSpan = 0;

  constructor(private readonly device: GPUDevice, private readonly count: number) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * count });
    this.resolved = device.createBuffer({ size: 16 * count, usage: 0x0200 | 0x0004 }); // QUERY_RESOLVE | COPY_SRC
    this.readable = device.createBuffer({ size: 16 * count, usage: Usage.readBack });
  }

  resolve(): GPUCommandBuffer {
    const encoder = this.device.createCommandEncoder();
    encoder.resolveQuerySet(this.querySet, 0, 2 * this.count, this.resolved, 0);
    encoder.copyBufferToBuffer(this.resolved, 0, this.readable, 0, 16 * this.count);
    return encoder.finish();
  }

  /** Seconds of each pass, in order; then frees the GPU objects. */
  async read(): Promise<number[]> {
    try {
      await this.readable.mapAsync(1 /* GPUMapMode.READ */);
      const ns = new BigInt64Array(this.readable.getMappedRange().slice(0));
      const spans = Array.from({ length: this.count }, (_, i) => Number(ns[2 * i + 1]! - ns[2 * i]!) / 1e9);
      this.gpuSpan = Number(ns[2 * this.count - 1]! - ns[0]!) / 1e9;
      return spans;
    } finally {
      this.querySet.destroy();
      this.resolved.destroy();
      this.readable.destroy();
    }
  }
}
