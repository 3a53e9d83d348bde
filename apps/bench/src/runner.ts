import {
  RnnError, createGru, createLstm, createRnn, forwardFlops, initStateDict, randomTensorData, type Backend, type ForwardResult, type GruConfig, type LstmConfig, type RnnConfig, type StateDict, type Tensor,
} from '@recurrent/core';
import { naiveGruForward, naiveLstmForward, naiveRnnForward } from '@recurrent/cpu/naive';
import { moduleConfig, type BenchConfig } from './configs.js';

/** The same weights and input for every engine and peer of one config. */
export interface Workload {
  config: BenchConfig;
  weights: StateDict;
  /** (N, L, I) when batch_first, else (L, N, I): what a PyTorch user would pass. */
  input: Tensor;
  flops: number;
}

export function makeWorkload(config: BenchConfig, seed = 7): Workload {
  const { batch: N, seqLen: L } = config;
  const I = config.module.inputSize;
  return {
    config,
    weights: initStateDict(moduleConfig(config), seed, config.mode),
    input: { data: randomTensorData(N * L * I, seed + 1), shape: config.module.batchFirst ? [N, L, I] : [L, N, I] },
    flops: forwardFlops(moduleConfig(config), N, L, config.mode),
  };
}

/** A model of the config's module (nn.RNN, nn.LSTM or nn.GRU) on a backend, through the public API. */
export async function createModule(config: BenchConfig, weights: StateDict, backend: Backend): Promise<{ backend: string; forward(input: Tensor): Promise<ForwardResult>; dispose(): void }> {
  const args = moduleConfig(config);
  if (config.mode === 'lstm') return createLstm(args as LstmConfig, weights, backend);
  if (config.mode === 'gru') return createGru(args as GruConfig, weights, backend);
  return createRnn(args as RnnConfig, weights, backend);
}

/** A model built by one engine or peer, ready to run the workload's forward again and again. */
export interface Prepared {
  /** What really runs, e.g. `wasm-simd`, `1 thread`. */
  detail?: string;
  /** The output sequence, (N, L, D·H_out) if `batchFirstOutput` or the config is batch_first, else (L, N, D·H_out). */
  run(): Promise<Float32Array>;
  /** True when run() returns (N, L, ·) whatever the config (tfjs). */
  batchFirstOutput?: boolean;
  /** Bytes the engine itself reports holding (tensors, WebAssembly memory), where it tells. */
  engineBytes?(): number | undefined;
  dispose(): void | Promise<void>;
}

export interface Runner {
  id: string;
  label: string;
  group: 'ours' | 'peer';
  /** Throws (RnnError 'unavailable' with the reason) when it cannot run here. */
  prepare(workload: Workload): Promise<Prepared>;
}

export type EngineModule = { createBackend(options?: object): Promise<Backend> };

/** One of our engines, through the public API exactly as a user calls it, with createBackend(options). */
export function oursRunner(id: string, label: string, load: () => Promise<EngineModule>, options?: object): Runner {
  return {
    id,
    label,
    group: 'ours',
    async prepare({ config, weights, input }) {
      let mod: EngineModule;
      try {
        mod = await load();
      } catch (error) {
        throw new RnnError('unavailable', `${label} is not installed or not built (${String((error as Error).message ?? error).split('\n')[0]})`, {}, { cause: error });
      }
      const backend = await mod.createBackend(options);
      let model;
      try {
        model = await createModule(config, weights, backend);
      } catch (error) {
        backend.dispose();
        throw error;
      }
      return {
        detail: model.backend,
        run: async () => (await model.forward(input)).output.data,
        engineBytes() {
          const stats = backend.stats?.();
          return stats?.wasmMemoryBytes ?? stats?.liveBufferBytes;
        },
        dispose() {
          model.dispose();
          backend.dispose();
        },
      };
    },
  };
}

/**
 * @recurrent/wasm three ways: plain SIMD and relaxed SIMD (fused multiply-add) on one thread, and
 * every core (relaxed SIMD where the runtime has it), each on a backend of its own.
 */
export function wasmRunners(load: () => Promise<EngineModule>, cores: number): Runner[] {
  const threaded = oursRunner('wasm', `@recurrent/wasm, ${cores} threads`, load, { threads: cores });
  return [
    oursRunner('wasm-simd-1t', '@recurrent/wasm, SIMD, 1 thread', load, { relaxedSimd: false, threads: 1 }),
    oursRunner('wasm-relaxed-1t', '@recurrent/wasm, relaxed SIMD, 1 thread', load, { relaxedSimd: true, threads: 1 }),
    cores > 1 ? threaded : { ...threaded, prepare: async () => Promise.reject(new RnnError('unavailable', 'one core here: nothing to thread')) },
  ];
}

/** The textbook loops from @recurrent/cpu/naive: the baseline every speed-up is measured against. */
export const naiveRunner: Runner = {
  id: 'naive',
  label: 'naive JS loop',
  group: 'peer',
  async prepare({ config, weights, input }) {
    const args = moduleConfig(config);
    const forward = config.mode === 'lstm'
      ? () => naiveLstmForward(args as LstmConfig, weights, input)
      : config.mode === 'gru'
        ? () => naiveGruForward(args as GruConfig, weights, input)
        : () => naiveRnnForward(args as RnnConfig, weights, input);
    return {
      run: async () => forward().output.data,
      dispose() {},
    };
  },
};

/** W (rows, cols) → Wᵀ (cols, rows): tfjs kernels are the transposes of PyTorch's weights. */
export function transpose(W: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(W.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = W[r * cols + c]!;
  return out;
}
