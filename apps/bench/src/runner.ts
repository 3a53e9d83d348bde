import { RnnError, createRnn, forwardFlops, initStateDict, randomTensorData, type Backend, type StateDict, type Tensor } from '@recurrent/core';
import { naiveRnnForward } from '@recurrent/cpu/naive';
import type { BenchConfig } from './configs.js';

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
  const I = config.rnn.inputSize;
  return {
    config,
    weights: initStateDict(config.rnn, seed),
    input: { data: randomTensorData(N * L * I, seed + 1), shape: config.rnn.batchFirst ? [N, L, I] : [L, N, I] },
    flops: forwardFlops(config.rnn, N, L),
  };
}

/** A model built by one engine or peer, ready to run the workload's forward again and again. */
export interface Prepared {
  /** What really runs, e.g. `wasm-simd`, `1 thread`. */
  detail?: string;
  /** The output sequence, (N, L, D·H) if `batchFirstOutput` or the config is batch_first, else (L, N, D·H). */
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

/** One of our engines, through the public API exactly as a user calls it. */
export function oursRunner(id: string, label: string, load: () => Promise<EngineModule>): Runner {
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
      const backend = await mod.createBackend();
      const rnn = await createRnn(config.rnn, weights, backend);
      return {
        detail: rnn.backend,
        run: async () => (await rnn.forward(input)).output.data,
        engineBytes() {
          const stats = backend.stats?.();
          return stats?.wasmMemoryBytes ?? stats?.liveBufferBytes;
        },
        dispose() {
          rnn.dispose();
          backend.dispose();
        },
      };
    },
  };
}

/** The textbook loop from @recurrent/cpu/naive: the baseline every speed-up is measured against. */
export const naiveRunner: Runner = {
  id: 'naive',
  label: 'naive JS loop',
  group: 'peer',
  async prepare({ config, weights, input }) {
    return {
      run: async () => naiveRnnForward(config.rnn, weights, input).output.data,
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
