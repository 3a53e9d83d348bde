import type { BackwardPlan, EngineGradients, EngineModel, EngineResult, EngineStream, ForwardPlan, ModelPlan, StreamPlan, StreamStart } from '@recurrent/core';
import { RnnError, abortable, isRnnError, resultArrays, throwIfAborted } from '@recurrent/core';
import { Usage, checkDevice, deviceLostError, gpuFailure, isDeviceLoss, scoped, type DeviceState } from './gpu.js';
import { Backpropagation } from './backward.js';
import { checkForwardLimits, checkModelLimits, persistentMisfit, type ModelSizes } from './limits.js';
import { GEMM_TILE, RECUR_WORKGROUP, UNIFORM_SLOT, gemmShader, persistentRecurrenceShader, recurrenceShader, type Kernel, type Resource } from './shaders.js';
import { Pace, submitBlocks, type Block } from './submit.js';
import { layerArrays, layeredStates, type LayerBuffers } from './weights.js';

export type { DeviceState } from './gpu.js';

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

  /** Destroys these buffers now (a stream's, on its dispose); ones already destroyed are skipped. */
  destroy(buffers: GPUBuffer[]): void {
    for (const buffer of buffers) {
      if (!this.all.delete(buffer)) continue;
      const free = this.free.indexOf(buffer);
      if (free >= 0) this.free.splice(free, 1);
      buffer.destroy();
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

/** Where a call's initial states come from and where its final ones go: h (layers·D, N, HO), then an LSTM's c (layers·D, N, H). */
interface StateEnds {
  state0: GPUBuffer;
  stateN: GPUBuffer;
}

/** Buffers, uniforms and bind groups for one (L, N): rebuilt only when the shape changes. */
interface Work {
  L: number;
  N: number;
  /** The buffers this work owns (a stream's state buffers are the stream's, not in here). */
  buffers: GPUBuffer[];
  x: GPUBuffer;
  /** A forward's own [state0 → stateN]; a stream's two directions between its state buffers, [A → B, B → A]. */
  ends: StateEnds[];
  lengths: GPUBuffer;
  /** Whether `lengths` holds L for every element (a call without lengths): then it need not be written again. */
  fullLengths: boolean;
  /** Per-step kernel only: ping-pong states, h (D, N, HO) then c (D, N, H); [L % 2] holds the last ones. */
  states: GPUBuffer[];
  /** Layer outputs alternate between these (L, N, D·HO). */
  outputs: [GPUBuffer, GPUBuffer];
  readBack: GPUBuffer;
  /** Bytes read back: the output (L, N, D·HO), then h_n and c_n laid out as StateEnds. */
  readBytes: number;
  /**
   * Uniform slots written per block just before it is submitted (the GEMM's rows, the persistent
   * kernel's steps), used round-robin: enough for one submission (2 per layer).
   */
  dims: GPUBuffer;
  dimsSlots: number;
  /** What was last written into `dims`: a slot is written only when its values change (a call of the same shape writes none). */
  dimsWritten: Uint32Array;
  /** Per layer, reading their uniforms from `dims`. */
  gemmGroups: GPUBindGroup[];
  /** Per layer: per-step kernel [reads states 0, reads states 1]; persistent kernel one group per entry of `ends`, on `dims`. */
  recurGroups: GPUBindGroup[][];
}

/** Where a model or a stream keeps the work of its latest shape. */
interface WorkSlot {
  work: Work | null;
}

/** One call on a work: between which of its state ends it runs, and which initial states it zeroes first. */
interface Call {
  slot: WorkSlot;
  work: Work;
  /** Index into work.ends. */
  side: number;
  /** A forward without h0 (c0) zeroes them in state0; a stream's initial states are already there. */
  zeroH0: boolean;
  zeroC0: boolean;
}

/** What an aborted stream push rejects with: "The stream push was aborted". */
const STREAM_PUSH = 'The stream push';

/**
 * Rows (L·N) up to which the projection runs gemmShader's `rows` entry point (the same sums without
 * 64-row tiles, which would be mostly padding): on SwiftShader a one-step push's projection then takes
 * ~0.6 ms instead of 50–110 ms; at 40 rows the two take about the same.
 */
const FEW_ROWS = 16;

/** A block of one forward, tagged with the phase profile() times it under (its `kind` is its pace's). */
type ForwardBlock = Block & { phase: Phase };

export class WebGpuModel implements EngineModel {
  readonly backend: string;
  private readonly device: GPUDevice;
  private readonly sizes: ModelSizes;
  private readonly lstm: boolean;
  private readonly pool: BufferPool;
  private readonly layers: LayerBuffers[];
  // The pipelines are set once `compiled` resolves: createModel awaits it before handing the model out.
  private gemmPipeline!: GPUComputePipeline;
  /** The same GEMM for calls of up to FEW_ROWS rows (its `rows` entry point). */
  private rowsPipeline!: GPUComputePipeline;
  private readonly recurKernel: Kernel;
  private recurPipeline!: GPUComputePipeline;
  /** Per-step kernel of a projected LSTM: h_t = u · W_hrᵀ, a second dispatch per step. */
  private projectPipeline!: GPUComputePipeline | null;
  /** The compilations the constructor started (off the main thread), and the pipelines set from them. */
  readonly compiled: Promise<void>;
  readonly kernel: RecurrenceKernel;
  private readonly gemmLayout: GPUBindGroupLayout;
  private readonly recurLayout: GPUBindGroupLayout;
  /** Bytes of the recurrence kernel's uniform: (L, N, offsets, steps) persistent, (step, L, N, offset) per step. */
  private readonly recurUniformBytes: number;
  /** The work of forward() and profile(); each stream has its own. */
  private readonly slot: WorkSlot = { work: null };
  /** Forwards run one after another on the shared work buffers: concurrent calls queue here. */
  private queue: Promise<unknown> = Promise.resolve();
  /** How fast this model's blocks run, so that a cancellable call stops within BLOCK_SECONDS or so. */
  private readonly pace = new Pace();
  private disposed = false;
  /** The model's plan (sizes and mode; loadWeights and backward read it). */
  private readonly plan: ModelPlan;
  /** Built by the first backward. */
  private training: Backpropagation | null = null;

  constructor(private readonly state: DeviceState, plan: ModelPlan, description: string, kernel?: RecurrenceKernel) {
    const { device } = state;
    this.device = device;
    this.sizes = plan;
    this.plan = plan;
    this.lstm = plan.mode === 'lstm';
    const { projSize: P } = plan;
    // Every check before the first upload, so a limit error leaves nothing behind.
    checkModelLimits(plan, device.limits);
    const misfit = persistentMisfit(plan, device.limits);
    if (kernel === 'persistent' && misfit) throw misfit;
    this.kernel = kernel ?? (misfit ? 'per-step' : 'persistent');
    this.backend = `webgpu${this.kernel === 'per-step' ? '-per-step' : ''} (${description})`;

    this.pool = new BufferPool(state);
    this.layers = plan.layers.map(({ inputSize }, index) => {
      const { W_ih, bias, W_hhT, b_hn, W_hrT } = layerArrays(plan, index);
      return {
        inputSize,
        W_ih: this.upload(W_ih),
        bias: this.upload(bias),
        W_hhT: this.upload(W_hhT),
        b_hn: b_hn === null ? null : this.upload(b_hn),
        W_hrT: W_hrT === null ? null : this.upload(W_hrT),
      };
    });

    const storage = (binding: number, writable: boolean): GPUBindGroupLayoutEntry => ({
      binding,
      visibility: 4, // GPUShaderStage.COMPUTE
      buffer: { type: writable ? 'storage' : 'read-only-storage' },
    });
    // The persistent kernel's uniform carries its steps too: 32 bytes; the others' 16.
    const dynamicUniform = (bytes: number): GPUBindGroupLayoutEntry => ({
      binding: 0,
      visibility: 4,
      buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: bytes },
    });
    // Layouts and pipelines come from the backend's cache: models of the same sizes share them.
    const { pipelines } = state;
    this.gemmLayout = pipelines.bindGroupLayout([dynamicUniform(16), storage(1, false), storage(2, false), storage(3, false), storage(4, true)]);
    this.recurUniformBytes = this.kernel === 'persistent' ? 32 : 16;
    this.recurKernel = this.kernel === 'persistent' ? persistentRecurrenceShader(plan) : recurrenceShader(plan);
    this.recurLayout = pipelines.bindGroupLayout([dynamicUniform(this.recurUniformBytes), ...this.recurKernel.bindings.map((b, i) => storage(i + 1, b.writable))]);
    this.compiled = Promise.all([
      pipelines.pipeline(gemmShader(), this.gemmLayout),
      pipelines.pipeline(gemmShader(), this.gemmLayout, 'rows'),
      pipelines.pipeline(this.recurKernel.code, this.recurLayout),
      this.kernel === 'per-step' && P > 0 ? pipelines.pipeline(this.recurKernel.code, this.recurLayout, 'project') : null,
    ]).then(([gemm, rows, recur, project]) => {
      this.gemmPipeline = gemm;
      this.rowsPipeline = rows;
      this.recurPipeline = recur;
      this.projectPipeline = project;
    });
  }

  forward(plan: ForwardPlan): Promise<EngineResult> {
    return this.enqueue(() => this.run(plan, null));
  }

  /**
   * A forward that also says where the time went, for benchmarks. With 'timestamp-query' on the device
   * it runs as forward() does, timestamps around every pass; otherwise each phase (each layer's
   * projection, its recurrence, the read-back) is submitted and waited for on its own.
   */
  profile(plan: ForwardPlan): Promise<{ result: EngineResult; timings: Timings }> {
    const timestamps = this.device.features.has('timestamp-query');
    const timings: Timings = { projection: 0, recurrence: 0, readBack: 0, method: timestamps ? 'timestamp-query' : 'separate submissions' };
    return this.enqueue(() => this.run(plan, timings)).then((result) => ({ result, timings }));
  }

  /**
   * A stream whose states stay in GPU buffers between pushes (core opens it at the first push). It owns
   * two state buffers for all layers: a push reads the held one and writes h_n/c_n into the other, which
   * becomes the held one only when the push succeeded, so a failed or aborted push leaves the states as
   * they were. A push is this model's forward (execute) from the held states, on the stream's own work
   * buffers and bind groups, rebuilt only when the chunk length changes; its one read-back carries the
   * output, h_n and c_n. Pushes queue with the model's other calls.
   */
  openStream(start: StreamStart): EngineStream {
    const { numLayers } = this.sizes;
    const N = start.batch;
    const bytes = this.layerBytes(N);
    const slot: WorkSlot = { work: null };
    /** [held, next] after an even number of pushes, [next, held] after an odd one: held is states[side]. */
    let states: [GPUBuffer, GPUBuffer] | null = null;
    let side = 0;
    /** The states the stream starts from, kept until a push succeeds: a failed first push uploads them again. */
    let from: StreamStart | null = start;
    let closed = false;
    let running = false;
    const release = (): void => {
      this.pool.destroy([...(states ?? []), ...(slot.work?.buffers ?? [])]);
      states = null;
      slot.work = null;
    };
    // The held states' first home: h0 then c0 as StateEnds lays them out, zeros where not given.
    const upload = (): [GPUBuffer, GPUBuffer] => {
      const size = numLayers * (bytes.h + bytes.c);
      const pair: [GPUBuffer, GPUBuffer] = [this.pool.acquire(size, Usage.storage), this.pool.acquire(size, Usage.storage)];
      this.device.queue.writeBuffer(pair[0], 0, layeredStates(numLayers, bytes.h, bytes.c, from?.h0, from?.c0));
      side = 0;
      return pair;
    };
    const push = async (plan: StreamPlan): Promise<EngineResult> => {
      if (closed) throw new RnnError('disposed', 'This stream was disposed: start a new one with model.stream()');
      this.checkUsable();
      throwIfAborted(plan.signal, STREAM_PUSH);
      const L = plan.seqLen;
      if (slot.work?.L !== L) checkForwardLimits(this.sizes, L, N, this.device.limits);
      running = true;
      try {
        const result = await this.execute(plan, null, () => {
          states ??= upload();
          return { slot, work: this.workFor(slot, L, N, states), side, zeroH0: false, zeroC0: false };
        });
        // Aborted while its results came back: they are dropped, and the held states stay.
        throwIfAborted(plan.signal, STREAM_PUSH);
        side = 1 - side;
        from = null;
        return result;
      } catch (error) {
        // Before any push succeeded the state buffers may not hold `from` (their upload failed): they
        // and the bind groups on them are remade next time.
        if (from !== null) release();
        throw error;
      } finally {
        running = false;
        if (closed) release();
      }
    };
    return {
      // Rejects as soon as the signal fires; the push itself stops at its next block and commits nothing.
      push: (plan) => abortable(plan.signal, () => this.enqueue(() => push(plan)), STREAM_PUSH),
      dispose: () => {
        if (closed) return;
        closed = true;
        if (!running) release();
      },
    };
  }

  /**
   * Runs calls one after another (they share the model's work buffers, pace and weights): forwards,
   * stream pushes, backwards and loadWeights. A call that fails does not stop the ones behind it.
   */
  private enqueue<T>(call: () => T | PromiseLike<T>): Promise<T> {
    const run = this.queue.then(call);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** BPTT (backward.ts), queued with forwards; it borrows this model's weights and buffer pool. */
  backward(plan: BackwardPlan): Promise<EngineGradients> {
    return this.enqueue(async () => {
      this.checkUsable();
      checkForwardLimits(this.sizes, plan.seqLen, plan.batch, this.device.limits);
      this.training ??= new Backpropagation({
        state: this.state,
        device: this.device,
        check: this.check,
        plan: this.plan,
        layers: this.layers,
        acquire: (bytes, usage) => this.pool.acquire(bytes, usage),
        release: (buffers) => this.pool.release(buffers),
        failure: (error, bytes) => gpuFailure(this.state, error, `this backward's buffers (L=${plan.seqLen}, N=${plan.batch})`, bytes),
      });
      const training = this.training;
      const before = training.lastBytes;
      try {
        return await training.run(plan);
      } finally {
        this.state.backwardBytes += training.lastBytes - before;
      }
    });
  }

  /** Bytes of GPU buffers this model's latest backward held (0 before the first). */
  get backwardBytes(): number {
    return this.training?.lastBytes ?? 0;
  }

  /** New weights of the same sizes (core checked them), written into the same buffers, in turn with calls. */
  loadWeights(plan: ModelPlan): Promise<void> {
    return this.enqueue(() => {
      this.checkUsable();
      this.layers.forEach((layer, index) => {
        const arrays = layerArrays(plan, index);
        for (const name of ['W_ih', 'bias', 'W_hhT', 'b_hn', 'W_hrT'] as const) {
          const buffer = layer[name];
          const data = arrays[name];
          if (buffer !== null && data !== null) this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
        }
      });
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.slot.work = null;
    this.state.backwardBytes -= this.backwardBytes;
    this.training = null;
    this.pool.destroyAll();
  }

  /** checkUsable for submitBlocks and the backward, between their blocks. */
  private readonly check = (): void => this.checkUsable();

  private checkUsable(): void {
    if (this.disposed) throw new RnnError('disposed', 'This WebGPU model was disposed: create a new one (createRnn, createLstm, createGru)');
    checkDevice(this.state);
  }

  private upload(data: Float32Array): GPUBuffer {
    const buffer = this.pool.acquire(data.byteLength, Usage.storageIn);
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  /** forward() and profile(): the forward's own work, h0/c0 written into its state0 (or zeroed there). */
  private run(plan: ForwardPlan, timings: Timings | null): Promise<EngineResult> {
    this.checkUsable();
    const { seqLen: L, batch: N, h0, c0 } = plan;
    checkForwardLimits(this.sizes, L, N, this.device.limits);
    return this.execute(plan, timings, () => {
      const work = this.workFor(this.slot, L, N, null);
      const { state0 } = work.ends[0]!;
      const { queue } = this.device;
      if (h0 !== null) queue.writeBuffer(state0, 0, h0.buffer, h0.byteOffset, h0.byteLength);
      if (c0 !== null) queue.writeBuffer(state0, this.layerBytes(N).h * this.sizes.numLayers, c0.buffer, c0.byteOffset, c0.byteLength);
      return { slot: this.slot, work, side: 0, zeroH0: h0 === null, zeroC0: c0 === null && this.lstm };
    });
  }

  /**
   * One forward, whoever calls it (forward(), profile(), a stream push): `prepare` picks the work and
   * puts the initial states in place, inside the setup's error scope with the input and lengths; then
   * the blocks go in one submission, or block by block with the signal at this model's pace; then one
   * read-back of the output, h_n and c_n.
   */
  private async execute(plan: StreamPlan, timings: Timings | null, prepare: () => Call): Promise<EngineResult> {
    const { seqLen: L, batch: N, input, lengths, signal } = plan;
    const { device } = this;
    const { outputSize: Hout, hiddenSize: H, numDirections: D, numLayers } = this.sizes;
    const queue = device.queue;

    const setup = scoped(device, () => {
      const call = prepare();
      const { work } = call;
      queue.writeBuffer(work.x, 0, input.buffer, input.byteOffset, input.byteLength);
      // Without lengths every element runs all L steps (every push of a typical stream): written once.
      if (lengths !== null || !work.fullLengths) queue.writeBuffer(work.lengths, 0, lengths === null ? new Uint32Array(N).fill(L) : Uint32Array.from(lengths));
      work.fullLengths = lengths === null;
      return call;
    });
    const call = setup.value;
    const { work } = call;
    const readBytes = work.readBytes;
    let gpuError: GPUError | null;
    try {
      if (timings === null) {
        // A call that can be cancelled goes block by block at this model's pace; others in one submission.
        const pace = signal ? this.pace : null;
        gpuError = await submitBlocks(device, this.blocks(plan, call, pace, null), signal, pace, this.check, 'The forward');
        // Disposed while the blocks ran: its buffers are destroyed, and mapping one is a GPU error.
        this.checkUsable();
        await work.readBack.mapAsync(1 /* GPUMapMode.READ */, 0, readBytes);
      } else {
        gpuError = await this.profiled(plan, call, timings);
      }
    } catch (error) {
      const setupError = await setup.error;
      if (this.disposed || this.state.disposed) this.checkUsable();
      const failure = isRnnError(error) ? error : isDeviceLoss(this.state, error) ? deviceLostError(this.state, error) : this.gpuError(setupError ?? error, work);
      if (setupError) this.discardWork(call.slot, work);
      throw failure; // aborted (or the device lost) between blocks, or what the GPU said
    }
    gpuError = (await setup.error) ?? gpuError;
    if (gpuError) {
      work.readBack.unmap();
      const failure = this.gpuError(gpuError, work);
      this.discardWork(call.slot, work);
      throw failure;
    }
    const mapped = new Float32Array(work.readBack.getMappedRange(0, readBytes));
    // Fresh arrays (core's: a one-step push's small ones share a slab), filled in read-back order.
    const arrays = resultArrays(L * N * D * Hout, numLayers * D * N * Hout, this.lstm ? numLayers * D * N * H : 0) as [Float32Array, Float32Array, Float32Array];
    let at = 0;
    for (const array of arrays) {
      array.set(mapped.subarray(at, at + array.length));
      at += array.length;
    }
    work.readBack.unmap();
    const [output, hN, cN] = arrays;
    return this.lstm ? { output, hN, cN } : { output, hN };
  }

  /**
   * profile(): with 'timestamp-query', one submission as forward() makes, timestamps around every pass;
   * otherwise each phase submitted and waited for on its own, to see where the time goes.
   */
  private async profiled(plan: StreamPlan, call: Call, timings: Timings): Promise<GPUError | null> {
    const { device } = this;
    const { queue } = device;
    const { readBack, readBytes } = call.work;
    if (timings.method === 'timestamp-query') {
      const timestamps = new PassTimestamps(device, 2 * this.layers.length);
      const passes: Phase[] = [];
      const submitted = performance.now();
      const { error } = scoped(device, () => {
        queue.submit([...this.blocks(plan, call, null, { querySet: timestamps.querySet, passes })].flatMap((b) => b.commands));
        queue.submit([timestamps.resolve()]);
      });
      await readBack.mapAsync(1 /* GPUMapMode.READ */, 0, readBytes);
      const wall = (performance.now() - submitted) / 1000;
      const spans = await timestamps.read();
      passes.forEach((phase, i) => (timings[phase] += spans[i]!));
      timings.readBack = Math.max(0, wall - timestamps.gpuSpan);
      return error;
    }
    const { value: blocks, error } = scoped(device, () => [...this.blocks(plan, call, null, null)]);
    for (const { phase, commands } of blocks) {
      this.checkUsable(); // disposed between phases: its buffers are destroyed
      const start = performance.now();
      queue.submit(commands);
      if (phase === 'readBack') await readBack.mapAsync(1 /* GPUMapMode.READ */, 0, readBytes);
      else await queue.onSubmittedWorkDone();
      timings[phase] += (performance.now() - start) / 1000;
    }
    return error;
  }

  /** Drops a shape's buffers after the GPU failed to make or use them, so the next call builds them afresh. */
  private discardWork(slot: WorkSlot, work: Work): void {
    if (slot.work === work) slot.work = null;
    this.pool.release(work.buffers);
    this.pool.trim();
  }

  private gpuError(error: unknown, work: Work): RnnError {
    const bytes = work.buffers.reduce((sum, b) => sum + b.size, 0);
    return gpuFailure(this.state, error, `this forward's buffers (L=${work.L}, N=${work.N})`, bytes);
  }

  /** Bytes of one layer's h (D, N, HO) and c (D, N, H, zero unless LSTM) states. */
  private layerBytes(N: number): { h: number; c: number } {
    const { hiddenSize: H, outputSize: Hout, numDirections: D } = this.sizes;
    return { h: D * N * Hout * 4, c: this.lstm ? D * N * H * 4 : 0 };
  }

  /**
   * The forward as blocks of GPU work, encoded lazily. Every layer: the projection GEMM, then the
   * recurrence (one dispatch, or one per step with the states ping-ponging), h_n (c_n) out; then the
   * last layer's output and the states into the read-back buffer. With a pace (a call that can be
   * cancelled) each GEMM is cut into row tiles and each recurrence into runs of steps, each block about
   * BLOCK_SECONDS of GPU work; without, one block per phase of a layer, as one submission.
   */
  private *blocks(plan: StreamPlan, call: Call, pace: Pace | null, timestamps: { querySet: GPUQuerySet; passes: Phase[] } | null): Generator<ForwardBlock> {
    const { seqLen: L, batch: N } = plan;
    const { work, side } = call;
    const { state0, stateN } = work.ends[side]!;
    const { device } = this;
    const { gates: G, hiddenSize: H, outputSize: Hout, projSize: P, numDirections: D, numLayers } = this.sizes;
    const bytes = this.layerBytes(N);
    // Where c states start in state0 and stateN.
    const cStart = numLayers * bytes.h;
    let encoder = device.createCommandEncoder();
    const finish = (phase: Phase, flops: number, kind: string = phase): ForwardBlock => {
      const block = { phase, kind, flops, commands: [encoder.finish()] };
      encoder = device.createCommandEncoder();
      return block;
    };
    // With a query set, timestamps around each pass, and which phase each pass belongs to.
    const beginPass = (phase: Phase): GPUComputePassEncoder => {
      if (timestamps === null) return encoder.beginComputePass();
      const i = timestamps.passes.push(phase) - 1;
      return encoder.beginComputePass({ timestampWrites: { querySet: timestamps.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    };
    // The next uniform slot of work.dims, written now (ordered before the block's submission) unless
    // it holds these values already: its offset.
    let slot = 0;
    const dims = (values: number[]): number => {
      const offset = (slot++ % work.dimsSlots) * UNIFORM_SLOT;
      const written = work.dimsWritten.subarray(offset / 4, offset / 4 + values.length);
      if (values.some((value, i) => written[i] !== value)) {
        written.set(values);
        device.queue.writeBuffer(work.dims, offset, written.buffer, written.byteOffset, written.byteLength);
      }
      return offset;
    };
    // Units (row tiles, steps) in the next block: all of them without a pace, else what the budget allows.
    const take = (kind: Phase, unitFlops: number, left: number): number =>
      pace === null ? left : Math.max(1, Math.min(left, Math.floor(pace.budget(kind) / unitFlops)));

    if (call.zeroH0) encoder.clearBuffer(state0, 0, cStart);
    if (call.zeroC0) encoder.clearBuffer(state0, cStart, numLayers * bytes.c);
    // The last layer's output and the states into the read-back buffer.
    const copyOut = (): void => {
      const outputBytes = L * N * D * Hout * 4;
      encoder.copyBufferToBuffer(work.outputs[(numLayers - 1) % 2]!, 0, work.readBack, 0, outputBytes);
      encoder.copyBufferToBuffer(stateN, 0, work.readBack, outputBytes, numLayers * (bytes.h + bytes.c));
    };
    const rows = L * N;
    const tiles = Math.ceil(rows / GEMM_TILE);
    const few = rows <= FEW_ROWS;
    const stepFlops = 2 * N * D * (G * H * Hout + P * H);
    for (let index = 0; index < numLayers; index++) {
      // x · W_ihᵀ + b_ih + b_hh for every step, gate and direction: one GEMM, rows m0 … m1−1 per block.
      const K = this.layers[index]!.inputSize;
      for (let tile = 0; tile < tiles; ) {
        // Few rows fit one tile: they run gemmShader's `rows` (no padding rows), paced apart from tiles.
        const count = few ? 1 : take('projection', 2 * GEMM_TILE * D * G * H * K, tiles - tile);
        const m0 = tile * GEMM_TILE;
        const m1 = Math.min(rows, (tile + count) * GEMM_TILE);
        const gemm = beginPass('projection');
        gemm.setPipeline(few ? this.rowsPipeline : this.gemmPipeline);
        gemm.setBindGroup(0, work.gemmGroups[index]!, [dims([m1, D * G * H, K, m0])]);
        gemm.dispatchWorkgroups(Math.ceil((D * G * H) / GEMM_TILE), few ? rows : count);
        gemm.end();
        tile += count;
        yield finish('projection', 2 * (m1 - m0) * D * G * H * K, few ? 'projection-rows' : 'projection');
      }

      // The recurrence, steps s0 … s1−1 per block; between blocks the states wait in stateN
      // (persistent) or in the ping-pong buffers (per-step).
      for (let s0 = 0; s0 < L; ) {
        const s1 = s0 + take('recurrence', stepFlops, L - s0);
        if (this.kernel === 'persistent') {
          // A workgroup per (sequence, direction), looping over the steps.
          const recur = beginPass('recurrence');
          recur.setPipeline(this.recurPipeline);
          recur.setBindGroup(0, work.recurGroups[index]![side]!, [dims([L, N, (index * bytes.h) / 4, (cStart + index * bytes.c) / 4, s0, s1, 0, 0])]);
          recur.dispatchWorkgroups(N, D);
          recur.end();
        } else {
          const [first] = work.states as [GPUBuffer];
          if (s0 === 0) {
            encoder.copyBufferToBuffer(state0, index * bytes.h, first, 0, bytes.h);
            if (this.lstm) encoder.copyBufferToBuffer(state0, cStart + index * bytes.c, first, bytes.h, bytes.c);
          }
          // One dispatch per step (two when projected) with both directions in it, states ping-ponging.
          const steps = beginPass('recurrence');
          for (let step = s0; step < s1; step++) {
            steps.setBindGroup(0, work.recurGroups[index]![step % 2]!, [step * UNIFORM_SLOT]);
            steps.setPipeline(this.recurPipeline);
            steps.dispatchWorkgroups(Math.ceil(H / RECUR_WORKGROUP), N, D);
            if (this.projectPipeline !== null) {
              steps.setPipeline(this.projectPipeline);
              steps.dispatchWorkgroups(Math.ceil(P / RECUR_WORKGROUP), N, D);
            }
          }
          steps.end();
          if (s1 === L) {
            // The last states: the forward direction froze at each length, the reverse one ran to t = 0.
            const last = work.states[L % 2]!;
            encoder.copyBufferToBuffer(last, 0, stateN, index * bytes.h, bytes.h);
            if (this.lstm) encoder.copyBufferToBuffer(last, bytes.h, stateN, cStart + index * bytes.c, bytes.c);
          }
        }
        // A cancellable call copies out with its last block: a submission of its own costs a round trip.
        if (pace !== null && index === numLayers - 1 && s1 === L) copyOut();
        yield finish('recurrence', (s1 - s0) * stepFlops);
        s0 = s1;
      }
    }
    if (pace === null) {
      copyOut();
      yield finish('readBack', 0);
    }
  }

  /** A bind group of the recurrence kernel, its buffers picked by the names the kernel binds. */
  private recurGroup(uniforms: GPUBuffer, resources: Partial<Record<Resource, GPUBuffer>>): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniforms, size: this.recurUniformBytes } }];
    this.recurKernel.bindings.forEach(({ name }, i) => {
      const buffer = resources[name];
      if (buffer === undefined) throw new RnnError('internal', `the recurrence kernel binds ${name}, which this model has no buffer for`);
      entries.push({ binding: i + 1, resource: { buffer } });
    });
    return this.device.createBindGroup({ layout: this.recurLayout, entries });
  }

  /**
   * The buffers and bind groups for this shape, reusing the slot's last ones when the shape is the same.
   * `held`: a stream's two state buffers (ends in both directions between them); null: a forward's own.
   */
  private workFor(slot: WorkSlot, L: number, N: number, held: [GPUBuffer, GPUBuffer] | null): Work {
    if (slot.work !== null && slot.work.L === L && slot.work.N === N) return slot.work;
    if (slot.work !== null) this.pool.release(slot.work.buffers);
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
    const ends: StateEnds[] =
      held === null
        ? [{ state0: acquire(numLayers * (bytes.h + bytes.c), Usage.storage), stateN: acquire(numLayers * (bytes.h + bytes.c), Usage.storage) }]
        : [{ state0: held[0], stateN: held[1] }, { state0: held[1], stateN: held[0] }];
    const lengths = acquire(N * 4, Usage.storageIn);
    const projected = acquire(L * N * D * G * H * 4, Usage.storage);
    const outputs: [GPUBuffer, GPUBuffer] = [acquire(outputBytes, Usage.storageOut), acquire(outputBytes, Usage.storageOut)];
    const readBytes = outputBytes + numLayers * (bytes.h + bytes.c);
    const readBack = acquire(readBytes, Usage.readBack);

    // Uniform slots (dynamic offsets). The GEMM's (M, N, K, first row) and the persistent kernel's
    // (L, N, offsets of this layer's h and c in state0/stateN, first and end step) are written per
    // block into `dims` (see blocks()); the per-step kernel's (step, L, N, offset of c) are here, per
    // step. Offsets in floats.
    const dimsSlots = 2 * numLayers;
    const dims = acquire(dimsSlots * UNIFORM_SLOT, Usage.uniform);
    // A pooled buffer may hold anything: no slot counts as written (no uniform is 2³²−1).
    const dimsWritten = new Uint32Array((dimsSlots * UNIFORM_SLOT) / 4).fill(0xffffffff);
    const uniforms = (slots: number[][]): GPUBuffer => {
      const buffer = acquire(slots.length * UNIFORM_SLOT, Usage.uniform);
      const data = new Uint32Array((slots.length * UNIFORM_SLOT) / 4);
      slots.forEach((slot, i) => data.set(slot, (i * UNIFORM_SLOT) / 4));
      device.queue.writeBuffer(buffer, 0, data);
      return buffer;
    };
    const gemmGroups = layers.map((layer, index) =>
      device.createBindGroup({
        layout: this.gemmLayout,
        entries: [dims, index === 0 ? x : outputs[(index - 1) % 2]!, layer.W_ih, layer.bias, projected].map((buffer, binding) => ({
          binding,
          resource: binding === 0 ? { buffer, size: 16 } : { buffer },
        })),
      }),
    );
    const weights = (layer: LayerBuffers) => ({ W_hhT: layer.W_hhT, b_hn: layer.b_hn ?? undefined, W_hrT: layer.W_hrT ?? undefined, projected, lengths });
    let recurGroups: GPUBindGroup[][];
    let states: GPUBuffer[] = [];
    if (this.kernel === 'persistent') {
      recurGroups = layers.map((layer, index) => ends.map(({ state0, stateN }) => this.recurGroup(dims, { ...weights(layer), state0, stateN, output: outputs[index % 2]! })));
    } else {
      states = [acquire(bytes.h + bytes.c, Usage.storage), acquire(bytes.h + bytes.c, Usage.storage)];
      const u = P > 0 ? acquire(D * N * H * 4, Usage.storage) : undefined;
      const steps = uniforms(Array.from({ length: L }, (_, step) => [step, L, N, bytes.h / 4]));
      recurGroups = layers.map((layer, index) => {
        const output = outputs[index % 2]!;
        const reading = (from: number) => this.recurGroup(steps, { ...weights(layer), output, u, state_prev: states[from], state_next: states[1 - from] });
        return [reading(0), reading(1)];
      });
    }
    pool.trim();
    slot.work = { L, N, x, ends, lengths, fullLengths: false, states, outputs, readBack, readBytes, dims, dimsSlots, dimsWritten, gemmGroups, recurGroups, buffers };
    return slot.work;
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
