import {
  RnnError, createGru, createLstm, createRnn, forwardFlops, initStateDict, randomTensorData, type Backend, type Gru, type GruConfig, type Lstm, type LstmConfig, type Rnn, type RnnConfig, type StateDict, type Tensor,
} from '@recurrent/core';
import { naiveGruForward, naiveLstmForward, naiveRnnForward } from '@recurrent/cpu/naive';
import { moduleConfig, outputWidth, taskOf, type BenchConfig } from './configs.js';

/** The same weights and input (and, for training, upstream gradient) for every engine and peer of one config. */
export interface Workload {
  config: BenchConfig;
  weights: StateDict;
  /** (N, L, I) when batch_first, else (L, N, I): what a PyTorch user would pass. */
  input: Tensor;
  /** Task `train`: ∂loss/∂output, a fixed random tensor shaped like the output (loss = Σ output·G). */
  upstream?: Tensor;
  /** Per timed run: the forward's for `forward` and `stream`; 3× the forward's for `train` (a backward does about twice a forward's multiply-adds). */
  flops: number;
}

export function makeWorkload(config: BenchConfig, seed = 7): Workload {
  const { batch: N, seqLen: L } = config;
  const I = config.module.inputSize;
  const DH = (config.module.bidirectional ? 2 : 1) * outputWidth(config);
  const forward = forwardFlops(moduleConfig(config), N, L, config.mode);
  const train = taskOf(config) === 'train';
  return {
    config,
    weights: initStateDict(moduleConfig(config), seed, config.mode),
    input: { data: randomTensorData(N * L * I, seed + 1), shape: config.module.batchFirst ? [N, L, I] : [L, N, I] },
    ...(train ? { upstream: { data: randomTensorData(N * L * DH, seed + 2), shape: config.module.batchFirst ? [N, L, DH] : [L, N, DH] } } : {}),
    flops: train ? 3 * forward : forward,
  };
}

/**
 * What a training run returns, to be checked against PyTorch's: the input's gradient, then every
 * parameter's in the state dict's (PyTorch's) order, back to back.
 */
export function flattenGradients(input: Float32Array, weights: Record<string, { data: Float32Array }>, order: string[]): Float32Array {
  const parts = [input, ...order.map((name) => weights[name]!.data)];
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** The time-major input cut into one-step chunks (1, N, I), for pushes (outside any timing). */
export function stepChunks({ config, input }: Workload): Tensor[] {
  if (config.module.batchFirst) throw new RnnError('config', 'a stream benchmark needs a time-major config');
  const step = config.batch * config.module.inputSize;
  return Array.from({ length: config.seqLen }, (_, t) => ({ data: input.data.subarray(t * step, (t + 1) * step), shape: [1, config.batch, config.module.inputSize] }));
}

/** A model of the config's module (nn.RNN, nn.LSTM or nn.GRU) on a backend, through the public API. */
export async function createModule(config: BenchConfig, weights: StateDict, backend: Backend): Promise<Rnn | Lstm | Gru> {
  const args = moduleConfig(config);
  if (config.mode === 'lstm') return createLstm(args as LstmConfig, weights, backend);
  if (config.mode === 'gru') return createGru(args as GruConfig, weights, backend);
  return createRnn(args as RnnConfig, weights, backend);
}

/** A model built by one engine or peer, ready to run the workload's task again and again. */
export interface Prepared {
  /** What really runs, e.g. `wasm-simd`, `1 thread`. */
  detail?: string;
  /**
   * forward and stream: the output sequence, (N, L, D·H_out) if `batchFirstOutput` or the config is
   * batch_first, else (L, N, D·H_out); train: flattenGradients of the gradients.
   */
  run(): Promise<Float32Array>;
  /**
   * The same engine's plain forward over the same input, timed interleaved with run() so that a ratio
   * to it is fair: a stream against one forward over the same steps, forward + backward against forward.
   */
  baseline?(): Promise<unknown>;
  /** A quick look at how long one run() would take (ms), with what it saw, so a hopeless one is not started. */
  estimate?(): Promise<{ ms: number; seen: string }>;
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

/** What a peer cannot do, as the reason its row gives. */
export const cannot = (why: string): never => {
  throw new RnnError('unavailable', why);
};

/** Pushes to probe a stream's per-step time with before its check run. */
const PROBE_STEPS = 10;

/**
 * The run of a task on one of our models: a forward; every step pushed through a fresh
 * `model.stream()`, outputs gathered; or `model.backward` against the workload's upstream gradient.
 */
function taskRun(model: Rnn | Lstm | Gru, workload: Workload): Pick<Prepared, 'run' | 'baseline' | 'estimate'> {
  const { input, upstream, weights, config } = workload;
  const forward = async (): Promise<Float32Array> => (await model.forward(input)).output.data;
  const task = taskOf(config);
  if (task === 'forward') return { run: forward };
  if (task === 'train') {
    const order = Object.keys(weights);
    return {
      async run() {
        const grads = await model.backward(input, undefined, { output: upstream! });
        return flattenGradients(grads.input.data, grads.weights, order);
      },
      baseline: forward,
    };
  }
  const chunks = stepChunks(workload);
  const width = config.batch * outputWidth(config);
  const push = async (steps: number, out?: Float32Array): Promise<void> => {
    const stream = model.stream();
    try {
      for (let t = 0; t < steps; t++) {
        const { output } = await stream.push(chunks[t]!);
        out?.set(output.data, t * width);
      }
    } finally {
      stream.dispose();
    }
  };
  return {
    async run() {
      const out = new Float32Array(config.seqLen * width);
      await push(config.seqLen, out);
      return out;
    },
    baseline: forward,
    async estimate() {
      await push(1); // the first push may compile or allocate
      const steps = Math.min(PROBE_STEPS, config.seqLen);
      const start = performance.now();
      await push(steps);
      const perStep = (performance.now() - start) / steps;
      return { ms: perStep * config.seqLen, seen: `${Math.round(perStep * 1000)} µs per step over ${steps} pushes` };
    },
  };
}

/** One of our engines, through the public API exactly as a user calls it, with createBackend(options). */
export function oursRunner(id: string, label: string, load: () => Promise<EngineModule>, options?: object): Runner {
  return {
    id,
    label,
    group: 'ours',
    async prepare(workload) {
      const { config, weights } = workload;
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
        ...taskRun(model, workload),
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
    if (taskOf(config) !== 'forward') cannot('the textbook loop is the baseline of forward speed only');
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
