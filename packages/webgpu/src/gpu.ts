import { RnnError, runtimeName } from '@recurrent/core';
import type { PipelineCache } from './pipelines.js';

/** What a backend shares with its models: the device and whether it is still usable. */
export interface DeviceState {
  device: GPUDevice;
  /** Set once the device is lost (destroyed by anyone, driver reset, …). */
  lost: GPUDeviceLostInfo | null;
  disposed: boolean;
  /** GPU buffers alive across all models of the backend, for Backend.stats() (leak checks). */
  liveBuffers: number;
  liveBufferBytes: number;
  /**
   * For each live model, the bytes of GPU buffers its latest backward held (tapes, gradient scratch,
   * results; see the README, "Training"), summed. They stay in the model's pool for the next call.
   */
  backwardBytes: number;
  /** Compiled shader modules and pipelines, shared by the backend's models. */
  pipelines: PipelineCache;
}

/**
 * The error for a call that met a lost device (destroyed by anyone, driver reset, …): forward, stream
 * pushes and backward all reject with it, pending and later calls alike. `cause` is what the GPU threw,
 * if anything.
 */
export function deviceLostError(state: DeviceState, cause?: unknown): RnnError {
  const info = state.lost;
  const why = info ? `${info.reason}${info.message ? `: ${info.message}` : ''}` : String(cause);
  return new RnnError('device-lost', `The GPU device was lost (${why}): create a new backend with createBackend() and a new model`, { reason: info?.reason }, { cause });
}

/** Throws RnnError('device-lost') once the device is lost, or 'disposed' once the backend is. */
export function checkDevice(state: DeviceState): void {
  if (state.disposed) throw new RnnError('disposed', 'The WebGPU backend was disposed: create a new backend with createBackend()');
  if (state.lost) throw deviceLostError(state);
}

/**
 * Whether an error from the GPU (a rejected mapAsync or onSubmittedWorkDone, a throwing call) means the
 * device is gone: map it with deviceLostError when true.
 */
export function isDeviceLoss(state: DeviceState, error: unknown): boolean {
  return state.lost !== null || (error instanceof Error && error.name === 'AbortError');
}

/**
 * The GPU buffer usages (GPUBufferUsage flags) of a model's and its backward's buffers: they share one
 * pool, which reuses a free buffer only for the same usage.
 */
export const Usage = {
  storageIn: 0x0080 | 0x0008, // STORAGE | COPY_DST
  storageOut: 0x0080 | 0x0004, // STORAGE | COPY_SRC
  storage: 0x0080 | 0x0004 | 0x0008, // STORAGE | COPY_SRC | COPY_DST
  uniform: 0x0040 | 0x0008, // UNIFORM | COPY_DST
  readBack: 0x0001 | 0x0008, // MAP_READ | COPY_DST
} as const;

/** A GPU device and what is known about where it came from. */
export interface AcquiredDevice {
  device: GPUDevice;
  /** Human-readable adapter name, for the model's `backend` field. */
  description: string;
  /** Whether this library created the device (and so must destroy it). */
  owned: boolean;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/**
 * `navigator.gpu` in browsers; in Node the `webgpu` package (Dawn). The specifier is a variable and
 * marked vite-ignore so that browser bundlers never follow it into Dawn's native binary.
 */
async function findGpu(): Promise<{ gpu: GPU; fromDawn: boolean }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, fromDawn: false };
  if (!isNode()) {
    throw new RnnError('unavailable', `WebGPU is not available in ${runtimeName()}: navigator.gpu is undefined (no WebGPU, or it is disabled)`);
  }
  dawnGpu ??= loadDawn().catch((error: unknown) => {
    dawnGpu = null;
    throw error;
  });
  return { gpu: await dawnGpu, fromDawn: true };
}

/**
 * One Dawn instance per process, shared by every backend: an instance collected while devices from
 * it live can crash or hang Node, and a live instance does not keep Node from exiting.
 */
let dawnGpu: Promise<GPU> | null = null;

async function loadDawn(): Promise<GPU> {
  const specifier = 'webgpu';
  let dawn: { create: (options: string[]) => GPU; globals: object };
  try {
    dawn = (await import(/* @vite-ignore */ specifier)) as typeof dawn;
  } catch (cause) {
    throw new RnnError('unavailable', `WebGPU is not available in ${runtimeName()}: the 'webgpu' package (Dawn) could not be loaded: ${String(cause)}`, {}, { cause });
  }
  // Dawn's classes (GPUBufferUsage, …) must be globals for WebGPU code written for browsers.
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  return dawn.create([]);
}

export function describeAdapter(info: GPUAdapterInfo | undefined): string {
  if (!info) return 'unknown adapter';
  if (info.description) return info.description;
  const parts = [info.vendor, info.architecture, info.device].filter((s) => typeof s === 'string' && s.length > 0);
  return parts.length > 0 ? parts.join(' ') : 'unknown adapter';
}

/** A device with the adapter's own storage and workgroup limits (not WebGPU's lower defaults). */
export async function acquireDevice(given?: GPUDevice): Promise<AcquiredDevice> {
  if (given !== undefined) {
    if (given === null || typeof given !== 'object' || typeof (given as GPUDevice).createBuffer !== 'function') {
      throw new RnnError('type', 'createBackend({ device }): device must be a GPUDevice');
    }
    const info = (given as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return { device: given, description: info ? describeAdapter(info) : 'caller device', owned: false };
  }
  const { gpu, fromDawn } = await findGpu();
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (cause) {
    throw new RnnError('unavailable', `WebGPU is not available in ${runtimeName()}: requestAdapter() failed: ${String(cause)}`, {}, { cause });
  }
  if (adapter === null) {
    const hint = fromDawn
      ? ' (Dawn found no Vulkan driver: install one, e.g. set VK_ICD_FILENAMES to a SwiftShader or lavapipe ICD json)'
      : ' (no GPU, or WebGPU blocked for it)';
    throw new RnnError('unavailable', `WebGPU is not available: requestAdapter() returned no adapter in ${runtimeName()}${hint}`);
  }
  const wanted: (keyof GPUSupportedLimits)[] = [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
  ];
  const requiredLimits: Record<string, number> = {};
  for (const name of wanted) requiredLimits[name] = adapter.limits[name] as number;
  let device: GPUDevice;
  try {
    // Timestamps let benchmarks split a forward's time without splitting its submission.
    const requiredFeatures: GPUFeatureName[] = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (cause) {
    throw new RnnError('unavailable', `WebGPU is not available in ${runtimeName()}: requestDevice() failed: ${String(cause)}`, {}, { cause });
  }
  return { device, description: describeAdapter(adapter.info), owned: true };
}

/**
 * Runs `work` (synchronous GPU calls) inside out-of-memory and validation error scopes, pushed and
 * popped with no await between so that models sharing a device never pop each other's scopes; `error`
 * gives what the GPU reported, out-of-memory first (null when nothing, or when the device is gone).
 */
export function scoped<T>(device: GPUDevice, work: () => T): { value: T; error: Promise<GPUError | null> } {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const pop = (): Promise<GPUError | null> =>
    Promise.all([device.popErrorScope(), device.popErrorScope()]).then(
      ([validation, memory]) => memory ?? validation,
      () => null,
    );
  let value: T;
  try {
    value = work();
  } catch (error) {
    void pop();
    throw error;
  }
  return { value, error: pop() };
}

const MiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * The RnnError for an error the GPU reported while making or running `what` (buffers of `bytes` in
 * all): 'device-lost' once the device is gone, 'limit' with the sizes when it ran out of memory,
 * else 'internal' (a bug of ours: every size was checked before).
 */
export function gpuFailure(state: DeviceState, error: unknown, what: string, bytes: number): RnnError {
  if (state.lost) return deviceLostError(state, error);
  const message = error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error) ? (error as { message: string }).message : String(error);
  if ((error as object | null)?.constructor?.name === 'GPUOutOfMemoryError') {
    return new RnnError('limit', `The GPU ran out of memory for ${what}: ${bytes} bytes (${MiB(bytes)}) on top of the ${MiB(state.liveBufferBytes - bytes)} this backend already holds (${message}); try a smaller batch or shorter sequences, or free other GPU memory`, {
      bytes,
      heldBytes: state.liveBufferBytes - bytes,
    }, { cause: error });
  }
  return new RnnError('internal', `WebGPU reported an error for ${what} (a bug in @recurrent/webgpu, please report it): ${message}`, {}, { cause: error });
}
