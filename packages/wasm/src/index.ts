import type { Backend, EngineModel, ModelPlan } from '@recurrent/core';
import { RnnError, runtimeName } from '@recurrent/core';
import * as binaries from './generated/binaries.js';
import { Heap, WASM32_MAX_BYTES } from './heap.js';
import { RUNTIME, Turns } from './blocks.js';
import { WasmModel, type Kernels, type Runtime } from './model.js';

export { THREADED_WORK } from './model.js';
import { WorkerPool, threadSupport } from './threads.js';

export interface WasmBackendOptions {
  /**
   * Relaxed-SIMD fused multiply-add: 'auto' (default) uses it where the runtime has it (Chromium; Node 20
   * only with --experimental-wasm-relaxed-simd), true requires it, false never uses it.
   */
  relaxedSimd?: boolean | 'auto';
  /**
   * Threads per forward, the caller's included: 'auto' (default) takes the machine's cores (at most 8)
   * where WASM threads work (Node; browsers on a crossOriginIsolated page), else 1. A number above 1
   * requires thread support. Small steps (N·G·H·H_out multiply-adds under THREADED_WORK = 131,072)
   * always run on one thread.
   */
  threads?: number | 'auto';
  /** The most bytes the WebAssembly memory may grow to (default and at most 4 GiB). */
  maximumMemoryBytes?: number;
}

/** A WASM backend: a core Backend plus a look at its memory, for tools and tests. */
export interface WasmBackend extends Backend {
  /**
   * The variant its models run now: `wasm-simd` or `wasm-relaxed-simd`, with `-threads-N` when N > 1.
   * After a worker thread failed, the pool is restarted; if it cannot be, one thread runs and this says so.
   */
  readonly variant: string;
  /**
   * Bytes of linear memory now, and bytes that live models hold in it (weights and scratch); of those,
   * `backwardBytes` are what backward keeps between calls (transposed weights and the activations and
   * gradient buffers of the largest backward so far; the package README gives the formula).
   */
  stats(): { wasmMemoryBytes: number; wasmAllocatedBytes: number; backwardBytes: number };
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const compiled = new Map<string, Promise<WebAssembly.Module>>();

function compile(name: keyof typeof binaries): Promise<WebAssembly.Module> {
  let module = compiled.get(name);
  if (module === undefined) {
    module = WebAssembly.compile(decodeBase64(binaries[name]));
    compiled.set(name, module);
  }
  return module;
}

/** What this runtime supports, found by validating the real modules (no user-agent guessing). */
export function detectFeatures(): { webAssembly: boolean; simd: boolean; relaxedSimd: boolean; threads: boolean } {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') {
    return { webAssembly: false, simd: false, relaxedSimd: false, threads: false };
  }
  return {
    webAssembly: true,
    simd: WebAssembly.validate(decodeBase64(binaries.simd)),
    relaxedSimd: WebAssembly.validate(decodeBase64(binaries.relaxedSimd)),
    threads: typeof SharedArrayBuffer !== 'undefined' && WebAssembly.validate(decodeBase64(binaries.simdThreads)),
  };
}

function checkOptions(options: unknown): Required<WasmBackendOptions> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new RnnError('type', `createBackend options must be an object like { relaxedSimd: 'auto' }, got ${options === null ? 'null' : typeof options}`);
  }
  const { relaxedSimd = 'auto', threads = 'auto', maximumMemoryBytes = WASM32_MAX_BYTES, ...rest } = options as WasmBackendOptions;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new RnnError('type', `createBackend has unknown option(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}. Known: relaxedSimd, threads, maximumMemoryBytes`, { unknown });
  }
  if (threads !== 'auto' && !(typeof threads === 'number' && Number.isSafeInteger(threads) && threads >= 1 && threads <= 64)) {
    throw new RnnError('type', `options.threads must be 'auto' or an integer from 1 to 64, got ${JSON.stringify(threads)}`, { field: 'threads' });
  }
  if (relaxedSimd !== 'auto' && relaxedSimd !== true && relaxedSimd !== false) {
    throw new RnnError('type', `options.relaxedSimd must be true, false or 'auto', got ${JSON.stringify(relaxedSimd)}`, { field: 'relaxedSimd' });
  }
  if (typeof maximumMemoryBytes !== 'number' || !Number.isSafeInteger(maximumMemoryBytes) || maximumMemoryBytes < 65536 || maximumMemoryBytes > WASM32_MAX_BYTES) {
    throw new RnnError('type', `options.maximumMemoryBytes must be an integer from 65536 to ${WASM32_MAX_BYTES} (4 GiB), got ${String(maximumMemoryBytes)}`, {
      field: 'maximumMemoryBytes',
    });
  }
  return { relaxedSimd, threads, maximumMemoryBytes };
}

/** One module instance on a new memory (shared, with a worker pool, when threadCount > 1). */
async function startRuntime(relaxed: boolean, threadCount: number, pages: number): Promise<Runtime> {
  const shared = threadCount > 1;
  const memory = new WebAssembly.Memory({ initial: 1, maximum: pages, ...(shared ? { shared: true } : {}) });
  const module = await compile(relaxed ? (shared ? 'relaxedSimdThreads' : 'relaxedSimd') : shared ? 'simdThreads' : 'simd');
  // The threaded modules import the clock their barriers' watchdog reads.
  const instance = await WebAssembly.instantiate(module, { env: { memory, now: () => performance.now() } });
  const kernels = instance.exports as unknown as Kernels;
  const heap = new Heap(memory, kernels.heapBase(), pages * 65536);
  const simd = relaxed ? 'wasm-relaxed-simd' : 'wasm-simd';
  const runtime: Runtime = {
    kernels,
    heap,
    get variant(): string {
      return runtime.pool === null ? simd : `${simd}-threads-${runtime.pool.threads}`;
    },
    pool: shared ? await WorkerPool.start(threadCount - 1, { module, memory, heap }) : null,
    // A browser's main thread must never block; Node's and any worker's may.
    canWait: typeof (globalThis as { document?: unknown }).document === 'undefined',
    turns: new Turns(),
  };
  return runtime;
}

/**
 * The WebAssembly engine: AssemblyScript SIMD kernels, one module instance and one linear memory per
 * backend, shared by its models. Throws RnnError('unavailable') where WebAssembly SIMD is missing.
 */
export async function createBackend(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  const { relaxedSimd, threads, maximumMemoryBytes } = checkOptions(options);
  const features = detectFeatures();
  if (!features.simd) {
    throw new RnnError('unavailable', features.webAssembly
      ? `${runtimeName()} has WebAssembly but not its SIMD extension, which @recurrent/wasm needs (Node ≥ 16.4, Chrome ≥ 91, Firefox ≥ 89, Safari ≥ 16.4): use @recurrent/cpu`
      : `${runtimeName()} has no WebAssembly: use @recurrent/cpu`);
  }
  if (relaxedSimd === true && !features.relaxedSimd) {
    throw new RnnError('unavailable', `relaxedSimd: true was asked for, but ${runtimeName()} has no WebAssembly relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd); use relaxedSimd: 'auto'`);
  }
  const useRelaxed = relaxedSimd !== false && features.relaxedSimd;

  const support = await threadSupport();
  const threadsAvailable = features.threads && support.available;
  if (typeof threads === 'number' && threads > 1 && !threadsAvailable) {
    throw new RnnError('unavailable', `threads: ${threads} was asked for, but WASM threads cannot run in ${runtimeName()}: ${support.reason || 'no WebAssembly threads'}; use threads: 'auto'`);
  }
  const threadCount = threads === 'auto' ? (threadsAvailable ? Math.min(support.cores, 8) : 1) : threads;

  const pages = Math.floor(maximumMemoryBytes / 65536);
  let runtime: Runtime | null = null;
  if (threadCount > 1) {
    try {
      runtime = await startRuntime(useRelaxed, threadCount, pages);
    } catch (error) {
      // 'auto' falls back to one thread (the variant says so); an explicit thread count does not.
      if (threads !== 'auto') throw error;
    }
  }
  runtime ??= await startRuntime(useRelaxed, 1, pages);
  const { heap } = runtime;
  const models = new Set<WasmModel>();
  let disposed = false;

  const backend: WasmBackend & { [RUNTIME]: Runtime } = {
    [RUNTIME]: runtime,
    name: 'wasm',
    get variant() {
      return runtime!.variant;
    },
    async createModel(plan: ModelPlan): Promise<EngineModel> {
      if (disposed) throw new RnnError('disposed', 'This WASM backend was disposed: create a new one with createBackend()');
      const model = new WasmModel(runtime!, plan, () => models.delete(model));
      models.add(model);
      return model;
    },
    stats() {
      let backwardBytes = 0;
      for (const model of models) backwardBytes += model.backwardBytes;
      return { wasmMemoryBytes: heap.memory.buffer.byteLength, wasmAllocatedBytes: heap.allocatedBytes, backwardBytes };
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      for (const model of models) model.dispose();
      runtime!.pool?.terminate();
    },
  };
  return backend;
}
