import type { EngineModel, EngineResult, ForwardPlan, ModelPlan } from '@recurrent/core';
import { RnnError } from '@recurrent/core';
import { checkForwardLimits, checkModelLimits } from './limits.js';
import { GEMM_TILE, RECUR_WORKGROUP, UNIFORM_SLOT, gemmShader, persistentRecurrenceShader, recurrenceShader } from './shaders.js';

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
 * with its state in workgroup memory. 'per-step': one dispatch per step (both directions in it), states
 * ping-ponging between two storage buffers; used when 2·H floats do not fit in workgroup memory.
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

/** One layer's weights on the GPU. */
interface Layer {
  inputSize: number;
  /** (D·H, inputSize): W_ih of the forward direction, then the reverse one. */
  W_ih: GPUBuffer;
  /** (D·H): b_ih + b_hh per direction, zeros without bias. */
  bias: GPUBuffer;
  /** (D, H, H), each direction's W_hh transposed so that invocations j read consecutive floats. */
  W_hhT: GPUBuffer;
}

/** Buffers, uniforms and bind groups for one (L, N): rebuilt only when the shape changes. */
interface Work {
  L: number;
  N: number;
  buffers: GPUBuffer[];
  x: GPUBuffer;
  h0: GPUBuffer;
  lengths: GPUBuffer;
  /** Per-step kernel only: ping-pong states (D, N, H); `states[L % 2]` holds h_n after a layer. */
  states: GPUBuffer[];
  /** (layers·D, N, H): h_n, written by the persistent kernel. */
  hN: GPUBuffer;
  /** Layer outputs alternate between these (L, N, D·H). */
  outputs: [GPUBuffer, GPUBuffer];
  readBack: GPUBuffer;
  /** Bytes read back: the output (L, N, D·H), then h_n (layers·D, N, H). */
  readBytes: number;
  gemmGroups: GPUBindGroup[];
  /** Per layer: per-step kernel [reads states[0], reads states[1]]; persistent kernel [its one group]. */
  recurGroups: GPUBindGroup[][];
}

function transposedRecurrentWeights(plan: ModelPlan, layer: number): Float32Array {
  const H = plan.hiddenSize;
  const out = new Float32Array(plan.numDirections * H * H);
  plan.layers[layer]!.directions.forEach(({ W_hh }, d) => {
    for (let j = 0; j < H; j++) for (let k = 0; k < H; k++) out[d * H * H + k * H + j] = W_hh[j * H + k]!;
  });
  return out;
}

export class WebGpuModel implements EngineModel {
  readonly backend: string;
  private readonly device: GPUDevice;
  private readonly H: number;
  private readonly D: number;
  private readonly pool: BufferPool;
  private readonly layers: Layer[];
  private readonly gemmPipeline: GPUComputePipeline;
  private readonly recurPipeline: GPUComputePipeline;
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
    this.H = plan.hiddenSize;
    this.D = plan.numDirections;
    const { H, D } = this;
    checkModelLimits(H, D, plan.layers.map((l) => l.inputSize), device.limits);
    const fitsWorkgroup = 2 * H * 4 <= device.limits.maxComputeWorkgroupStorageSize;
    if (kernel === 'persistent' && !fitsWorkgroup) {
      throw new RnnError('limit', `the persistent recurrence kernel keeps 2·H = ${2 * H} floats in workgroup memory, more than this GPU's maxComputeWorkgroupStorageSize of ${device.limits.maxComputeWorkgroupStorageSize} bytes`, {
        limitName: 'maxComputeWorkgroupStorageSize',
      });
    }
    this.kernel = kernel ?? (fitsWorkgroup ? 'persistent' : 'per-step');
    this.backend = `webgpu${this.kernel === 'per-step' ? '-per-step' : ''} (${description})`;

    this.pool = new BufferPool(state);
    this.layers = plan.layers.map(({ inputSize, directions }, index) => {
      const W_ih = new Float32Array(D * H * inputSize);
      const bias = new Float32Array(D * H);
      directions.forEach(({ W_ih: w, b_ih, b_hh }, d) => {
        W_ih.set(w, d * H * inputSize);
        if (b_ih && b_hh) for (let j = 0; j < H; j++) bias[d * H + j] = b_ih[j]! + b_hh[j]!;
      });
      return {
        inputSize,
        W_ih: this.upload(W_ih),
        bias: this.upload(bias),
        W_hhT: this.upload(transposedRecurrentWeights(plan, index)),
      };
    });

    const storage = (binding: number, readOnly: boolean): GPUBindGroupLayoutEntry => ({
      binding,
      visibility: 4, // GPUShaderStage.COMPUTE
      buffer: { type: readOnly ? 'read-only-storage' : 'storage' },
    });
    const dynamicUniform: GPUBindGroupLayoutEntry = {
      binding: 0,
      visibility: 4,
      buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: 16 },
    };
    this.gemmLayout = device.createBindGroupLayout({
      entries: [dynamicUniform, storage(1, true), storage(2, true), storage(3, true), storage(4, false)],
    });
    this.recurLayout = device.createBindGroupLayout({
      entries: [dynamicUniform, storage(1, true), storage(2, true), storage(3, true), storage(4, true), storage(5, false), storage(6, false)],
    });
    const pipeline = (code: string, layout: GPUBindGroupLayout): GPUComputePipeline =>
      device.createComputePipeline({
        layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
      });
    this.gemmPipeline = pipeline(gemmShader(), this.gemmLayout);
    this.recurPipeline = pipeline(
      this.kernel === 'persistent' ? persistentRecurrenceShader(H, D, plan.nonlinearity) : recurrenceShader(H, D, plan.nonlinearity),
      this.recurLayout,
    );
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
    if (this.disposed) throw new RnnError('disposed', 'This WebGPU model was disposed: create a new one with createRnn()');
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
    const { seqLen: L, batch: N, input, h0, lengths } = plan;
    const { H, D, device } = this;
    checkForwardLimits(L, N, this.layers[0]!.inputSize, H, D, this.layers.length, device.limits);
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
      if (h0 !== null) queue.writeBuffer(work.h0, 0, h0.buffer, h0.byteOffset, h0.byteLength);
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
    const output = mapped.slice(0, L * N * D * H);
    const hN = mapped.slice(L * N * D * H);
    work.readBack.unmap();
    return { output, hN };
  }

  private gpuError(error: unknown): RnnError {
    if (this.state.lost) return this.deviceLost(error);
    const message = error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error) ? (error as { message: string }).message : String(error);
    if ((error as object | null)?.constructor?.name === 'GPUOutOfMemoryError') {
      return new RnnError('limit', `The GPU ran out of memory for this forward (${message}): try a smaller batch or shorter sequences`, {}, { cause: error });
    }
    return new RnnError('internal', `WebGPU reported an error running the RNN (a bug in @recurrent/webgpu, please report it): ${message}`, {}, { cause: error });
  }

  /**
   * Every layer: h0 into the state, the projection GEMM, L recurrence dispatches, h_n out; then the
   * last layer's output into the read-back buffer. Returned as phases so profile() can time them.
   */
  private encode(plan: ForwardPlan, work: Work, querySet: GPUQuerySet | null): { phases: { phase: Phase; commands: GPUCommandBuffer }[]; passes: Phase[] } {
    const { seqLen: L, batch: N, h0 } = plan;
    const { H, D, device } = this;
    const DH = D * H;
    const stateBytes = D * N * H * 4;
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

    const persistent = this.kernel === 'persistent';
    if (persistent && h0 === null) encoder.clearBuffer(work.h0, 0, this.layers.length * stateBytes);
    for (let index = 0; index < this.layers.length; index++) {
      // x · W_ihᵀ + b_ih + b_hh for every step and both directions: one GEMM.
      const gemm = beginPass('projection');
      gemm.setPipeline(this.gemmPipeline);
      gemm.setBindGroup(0, work.gemmGroups[index]!, [index * UNIFORM_SLOT]);
      gemm.dispatchWorkgroups(Math.ceil(DH / GEMM_TILE), Math.ceil((L * N) / GEMM_TILE));
      gemm.end();
      endPhase('projection');

      if (persistent) {
        // All L steps in one dispatch: a workgroup per (sequence, direction).
        const recur = beginPass('recurrence');
        recur.setPipeline(this.recurPipeline);
        recur.setBindGroup(0, work.recurGroups[index]![0]!, [index * UNIFORM_SLOT]);
        recur.dispatchWorkgroups(N, D);
        recur.end();
      } else {
        const stateA = work.states[0]!;
        if (h0 === null) encoder.clearBuffer(stateA, 0, stateBytes);
        else encoder.copyBufferToBuffer(work.h0, index * stateBytes, stateA, 0, stateBytes);
        // One dispatch per step with both directions in it, states ping-ponging.
        const steps = beginPass('recurrence');
        steps.setPipeline(this.recurPipeline);
        for (let step = 0; step < L; step++) {
          steps.setBindGroup(0, work.recurGroups[index]![step % 2]!, [step * UNIFORM_SLOT]);
          steps.dispatchWorkgroups(Math.ceil(H / RECUR_WORKGROUP), N, D);
        }
        steps.end();
        // h_n is the last state: the forward direction froze at each length, the reverse one ran to t = 0.
        encoder.copyBufferToBuffer(work.states[L % 2]!, 0, work.hN, index * stateBytes, stateBytes);
      }
      endPhase('recurrence');
    }
    encoder.copyBufferToBuffer(work.hN, 0, work.readBack, L * N * DH * 4, this.layers.length * stateBytes);
    encoder.copyBufferToBuffer(work.outputs[(this.layers.length - 1) % 2]!, 0, work.readBack, 0, L * N * DH * 4);
    endPhase('readBack');
    return { phases, passes };
  }

  /** The buffers and bind groups for this shape, reusing the last ones when the shape is the same. */
  private workFor(L: number, N: number): Work {
    if (this.work !== null && this.work.L === L && this.work.N === N) return this.work;
    if (this.work !== null) this.pool.release(this.work.buffers);
    const { H, D, device, pool } = this;
    const DH = D * H;
    const layers = this.layers;
    const stateBytes = D * N * H * 4;
    const persistent = this.kernel === 'persistent';
    const x = pool.acquire(L * N * layers[0]!.inputSize * 4, Usage.storageIn);
    const h0 = pool.acquire(layers.length * stateBytes, Usage.state);
    const hN = pool.acquire(layers.length * stateBytes, Usage.state);
    const lengths = pool.acquire(N * 4, Usage.storageIn);
    const projected = pool.acquire(L * N * DH * 4, Usage.state);
    const outputs: [GPUBuffer, GPUBuffer] = [pool.acquire(L * N * DH * 4, Usage.storageOut), pool.acquire(L * N * DH * 4, Usage.storageOut)];
    const readBack = pool.acquire((L * N * DH + layers.length * D * N * H) * 4, Usage.readBack);
    const buffers = [x, h0, hN, lengths, projected, ...outputs, readBack];

    // Uniform slots (dynamic offsets): per layer (M, N, K) of its GEMM and (L, N, state offset) of
    // the persistent kernel; per step (step, L, N) for the per-step kernel.
    const uniforms = (slots: number[][]): GPUBuffer => {
      const buffer = pool.acquire(slots.length * UNIFORM_SLOT, Usage.uniform);
      const data = new Uint32Array((slots.length * UNIFORM_SLOT) / 4);
      slots.forEach((slot, i) => data.set(slot, (i * UNIFORM_SLOT) / 4));
      device.queue.writeBuffer(buffer, 0, data);
      buffers.push(buffer);
      return buffer;
    };
    const gemmDims = uniforms(layers.map((layer) => [L * N, DH, layer.inputSize, 0]));
    const entries = (resources: GPUBuffer[]): GPUBindGroupEntry[] =>
      resources.map((buffer, binding) => ({ binding, resource: binding === 0 ? { buffer, size: 16 } : { buffer } }));
    const gemmGroups = layers.map((layer, index) =>
      device.createBindGroup({
        layout: this.gemmLayout,
        entries: entries([gemmDims, index === 0 ? x : outputs[(index - 1) % 2]!, layer.W_ih, layer.bias, projected]),
      }),
    );
    const group = (resources: GPUBuffer[]): GPUBindGroup => device.createBindGroup({ layout: this.recurLayout, entries: entries(resources) });
    let recurGroups: GPUBindGroup[][];
    let states: GPUBuffer[] = [];
    if (persistent) {
      const layerDims = uniforms(layers.map((_, index) => [L, N, (index * stateBytes) / 4, 0]));
      recurGroups = layers.map((layer, index) => [group([layerDims, layer.W_hhT, projected, lengths, h0, hN, outputs[index % 2]!])]);
    } else {
      states = [pool.acquire(stateBytes, Usage.state), pool.acquire(stateBytes, Usage.state)];
      buffers.push(...states);
      const steps = uniforms(Array.from({ length: L }, (_, step) => [step, L, N, 0]));
      recurGroups = layers.map((layer, index) => {
        const out = outputs[index % 2]!;
        return [group([steps, layer.W_hhT, projected, lengths, states[0]!, states[1]!, out]), group([steps, layer.W_hhT, projected, lengths, states[1]!, states[0]!, out])];
      });
    }
    pool.trim();
    this.work = { L, N, x, h0, hN, lengths, states, outputs, readBack, gemmGroups, recurGroups, buffers, readBytes: (L * N * DH + layers.length * D * N * H) * 4 };
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
