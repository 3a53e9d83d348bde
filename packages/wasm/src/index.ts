import type { Backend, EngineModel, ModelPlan } from '@recurrent/core';
import { RnnError } from '@recurrent/core';
import * as binaries from './generated/binaries.js';
import { Heap, WASM32_MAX_BYTES } from './heap.js';
import { WasmModel, type Kernels, type Runtime } from './model.js';

export interface WasmBackendOptions {
  /**
   * Relaxed-SIMD fused multiply-add: 'auto' (default) uses it where the runtime has it (Chromium; Node 20
   * only with --experimental-wasm-relaxed-simd), true requires it, false never uses it.
   */
  relaxedSimd?: boolean | 'auto';
  /** The most bytes the WebAssembly memory may grow to (default and at most 4 GiB). */
  maximumMemoryBytes?: number;
}

/** A WASM backend: a core Backend plus a look at its memory, for tools and tests. */
export interface WasmBackend extends Backend {
  /** The variant its models run: `wasm-simd` or `wasm-relaxed-simd`. */
  readonly variant: string;
  /** Bytes of linear memory now, and bytes that live models hold in it (weights and scratch). */
  stats(): { wasmMemoryBytes: number; wasmAllocatedBytes: number };
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
export function detectFeatures(): { webAssembly: boolean; simd: boolean; relaxedSimd: boolean } {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') {
    return { webAssembly: false, simd: false, relaxedSimd: false };
  }
  return {
    webAssembly: true,
    simd: WebAssembly.validate(decodeBase64(binaries.simd)),
    relaxedSimd: WebAssembly.validate(decodeBase64(binaries.relaxedSimd)),
  };
}

function checkOptions(options: unknown): Required<WasmBackendOptions> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new RnnError('type', `createBackend options must be an object like { relaxedSimd: 'auto' }, got ${options === null ? 'null' : typeof options}`);
  }
  const { relaxedSimd = 'auto', maximumMemoryBytes = WASM32_MAX_BYTES, ...rest } = options as WasmBackendOptions;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new RnnError('type', `createBackend has unknown option(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}. Known: relaxedSimd, maximumMemoryBytes`, { unknown });
  }
  if (relaxedSimd !== 'auto' && relaxedSimd !== true && relaxedSimd !== false) {
    throw new RnnError('type', `options.relaxedSimd must be true, false or 'auto', got ${JSON.stringify(relaxedSimd)}`, { field: 'relaxedSimd' });
  }
  if (typeof maximumMemoryBytes !== 'number' || !Number.isSafeInteger(maximumMemoryBytes) || maximumMemoryBytes < 65536 || maximumMemoryBytes > WASM32_MAX_BYTES) {
    throw new RnnError('type', `options.maximumMemoryBytes must be an integer from 65536 to ${WASM32_MAX_BYTES} (4 GiB), got ${String(maximumMemoryBytes)}`, {
      field: 'maximumMemoryBytes',
    });
  }
  return { relaxedSimd, maximumMemoryBytes };
}

/**
 * The WebAssembly engine: AssemblyScript SIMD kernels, one module instance and one linear memory per
 * backend, shared by its models. Throws RnnError('unavailable') where WebAssembly SIMD is missing.
 */
export async function createBackend(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  const { relaxedSimd, maximumMemoryBytes } = checkOptions(options);
  const features = detectFeatures();
  if (!features.simd) {
    throw new RnnError('unavailable', features.webAssembly
      ? 'This runtime has WebAssembly but not its SIMD extension, which @recurrent/wasm needs (Node ≥ 16.4, Chrome ≥ 91, Firefox ≥ 89, Safari ≥ 16.4): use @recurrent/cpu'
      : 'This runtime has no WebAssembly: use @recurrent/cpu');
  }
  if (relaxedSimd === true && !features.relaxedSimd) {
    throw new RnnError('unavailable', 'relaxedSimd: true was asked for, but this runtime has no relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd); use relaxedSimd: \'auto\'');
  }
  const useRelaxed = relaxedSimd !== false && features.relaxedSimd;
  const variant = useRelaxed ? 'wasm-relaxed-simd' : 'wasm-simd';
  const module = await compile(useRelaxed ? 'relaxedSimd' : 'simd');
  const memory = new WebAssembly.Memory({ initial: 1, maximum: maximumMemoryBytes / 65536 });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const exports = instance.exports as unknown as Kernels & { heapBase(): number };
  const runtime: Runtime = { kernels: exports, heap: new Heap(memory, exports.heapBase(), Math.floor(maximumMemoryBytes / 65536) * 65536), variant };
  const models = new Set<WasmModel>();
  let disposed = false;

  return {
    name: 'wasm',
    variant,
    async createModel(plan: ModelPlan): Promise<EngineModel> {
      if (disposed) throw new RnnError('disposed', 'This WASM backend was disposed: create a new one with createBackend()');
      const model = new WasmModel(runtime, plan, () => models.delete(model));
      models.add(model);
      return model;
    },
    stats() {
      return { wasmMemoryBytes: memory.buffer.byteLength, wasmAllocatedBytes: runtime.heap.allocatedBytes };
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      for (const model of models) model.dispose();
    },
  };
}
