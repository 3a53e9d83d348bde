import { RnnError } from '@recurrent/core';
import { onnxExportCommand, onnxExportErrorFile, onnxModelFile, taskOf, type BenchConfig } from './configs.js';
import { onnxWeightFeeds } from './onnx-graph.js';
import { cannot, type Runner, type Workload } from './runner.js';

/** The part of the onnxruntime-node / onnxruntime-web API the benchmark uses (they share it). */
export interface OrtLike {
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
  env: { wasm: { numThreads?: number; wasmPaths?: string } };
}
interface OrtSession {
  run(feeds: Record<string, unknown>, fetches?: string[]): Promise<Record<string, { data: unknown }>>;
  release(): Promise<void>;
}

export type ModelLoader = (file: string) => Promise<Uint8Array | undefined>;

export interface OrtJob {
  model: Uint8Array;
  /** The weights, the input (the whole sequence) and, for a stream, the zero initial states h0 (c0). */
  feeds: Record<string, { data: Float32Array; dims: number[] }>;
  /**
   * A stream: `steps` runs of one step each (input (1, N, I) cut from the whole input), each fed the
   * states the previous run returned (hN → h0, cN → c0), the way ORT's users stream.
   */
  stream?: { steps: number; states: [input: string, output: string][] };
}

/** Why ONNX Runtime has no training row. */
export const ORT_NO_TRAINING = 'no training in ONNX Runtime\'s npm packages: onnxruntime-web removed it, onnxruntime-node runs inference only';

/** Loads the exported model of a config and turns our weights into its feeds (the input included). */
export async function ortJob(loadModel: ModelLoader, { config, weights, input }: Workload): Promise<OrtJob> {
  if (taskOf(config) === 'train') cannot(ORT_NO_TRAINING);
  const model = await loadModel(onnxModelFile(config));
  if (!model) {
    // export_onnx.py keeps the exporter's own error where torch.onnx.export cannot export the model.
    const exportError = await loadModel(onnxExportErrorFile(config));
    if (exportError) throw new RnnError('unavailable', `no ONNX model: ${new TextDecoder().decode(exportError).trim()}`);
    throw new RnnError('unavailable', `no ONNX export of this config (${onnxModelFile(config)}): run ${onnxExportCommand(config)}`);
  }
  const feeds: OrtJob['feeds'] = { ...onnxWeightFeeds(model, config, weights), input: { data: input.data, dims: input.shape } };
  if (taskOf(config) !== 'stream') return { model, feeds };
  const r = config.module;
  const stateDims = [(r.bidirectional ? 2 : 1) * r.numLayers, config.batch, r.hiddenSize];
  const states: [string, string][] = config.mode === 'lstm' ? [['h0', 'hN'], ['c0', 'cN']] : [['h0', 'hN']];
  for (const [name] of states) feeds[name] = { data: new Float32Array(stateDims[0]! * stateDims[1]! * stateDims[2]!), dims: stateDims };
  return { model, feeds, stream: { steps: config.seqLen, states } };
}

/**
 * ORT's thread pool spins while idle, waiting for work; in a round-robin benchmark on a small machine
 * that spinning would steal the cores the other engines are being timed on, so it is turned off.
 */
const NO_SPINNING = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };

/**
 * An ONNX Runtime session that runs the job's feeds and returns `output`; for a stream, one
 * session.run per step, each fed the states the previous one returned, outputs gathered.
 */
export async function ortSession(ort: OrtLike, job: OrtJob, options: object): Promise<{ run(): Promise<Float32Array>; release(): Promise<void> }> {
  const session = await ort.InferenceSession.create(job.model, { ...options, extra: NO_SPINNING });
  const feeds: Record<string, unknown> = {};
  for (const [name, { data, dims }] of Object.entries(job.feeds)) feeds[name] = new ort.Tensor('float32', data, dims);
  const stream = job.stream;
  if (!stream) {
    return {
      async run() {
        const result = await session.run(feeds, ['output']);
        return result.output!.data as Float32Array;
      },
      release: () => session.release(),
    };
  }
  // One-step input tensors, cut once outside the timed runs (as the stream rows of our engines do).
  const { data, dims } = job.feeds.input!;
  const stepDims = [1, ...dims.slice(1)];
  const stepSize = dims.slice(1).reduce((a, b) => a * b, 1);
  const steps = Array.from({ length: stream.steps }, (_, t) => new ort.Tensor('float32', data.subarray(t * stepSize, (t + 1) * stepSize), stepDims));
  const zeros = stream.states.map(([name]) => feeds[name]);
  const fetches = ['output', ...stream.states.map(([, out]) => out)];
  return {
    async run() {
      const step: Record<string, unknown> = { ...feeds };
      stream.states.forEach(([name], k) => (step[name] = zeros[k]));
      let out: Float32Array | undefined;
      for (let t = 0; t < stream.steps; t++) {
        step.input = steps[t];
        const result = await session.run(step, fetches);
        const y = result.output!.data as Float32Array;
        out ??= new Float32Array(stream.steps * y.length);
        out.set(y, t * y.length);
        for (const [name, output] of stream.states) step[name] = result[output];
      }
      return out!;
    },
    release: () => session.release(),
  };
}

/** onnxruntime-node (native CPU). intraOpNumThreads 0 is ORT's default: one thread per physical core. */
export function ortNodeRunner(threads: 1 | 'default', load: () => Promise<OrtLike>, loadModel: ModelLoader): Runner {
  const label = threads === 1 ? 'onnxruntime-node, 1 thread' : 'onnxruntime-node, default threads';
  return {
    id: threads === 1 ? 'ort-node-1t' : 'ort-node',
    label,
    group: 'peer',
    async prepare(workload) {
      const job = await ortJob(loadModel, workload);
      let ort: OrtLike;
      try {
        ort = await load();
      } catch (error) {
        throw new RnnError('unavailable', `onnxruntime-node cannot load here: ${String((error as Error).message ?? error).split('\n')[0]}`, {}, { cause: error });
      }
      const session = await ortSession(ort, job, { executionProviders: ['cpu'], intraOpNumThreads: threads === 1 ? 1 : 0, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
      return { run: () => session.run(), dispose: () => session.release() };
    },
  };
}

/** Messages between the main thread and an ORT-web worker. */
export type ToWorker = { type: 'init'; job: OrtJob; numThreads: number } | { type: 'run'; wantOutput: boolean } | { type: 'dispose' };
export type FromWorker = { type: 'ready'; numThreads: number } | { type: 'done'; output?: Float32Array } | { type: 'error'; message: string };

/** A worker as both Node's worker_threads and the browser's Worker can provide it. */
export interface WorkerChannel {
  send(message: ToWorker): void;
  onMessage(listener: (message: FromWorker) => void): void;
  terminate(): void;
}

/**
 * The worker's side: one ORT-web instance with its own thread count. ORT-web reads numThreads once,
 * when its WebAssembly starts, so each thread count needs its own worker (its own module instance)
 * to run interleaved with the others in one process.
 */
export function serveOrtWeb(load: () => Promise<OrtLike>, wasmPaths: string | undefined, post: (message: FromWorker) => void): (message: ToWorker) => Promise<void> {
  let session: Awaited<ReturnType<typeof ortSession>> | undefined;
  return async (message) => {
    try {
      if (message.type === 'init') {
        const ort = await load();
        ort.env.wasm.numThreads = message.numThreads;
        if (wasmPaths) ort.env.wasm.wasmPaths = wasmPaths;
        session = await ortSession(ort, message.job, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
        post({ type: 'ready', numThreads: ort.env.wasm.numThreads ?? message.numThreads });
      } else if (message.type === 'run') {
        const output = await session!.run();
        post({ type: 'done', output: message.wantOutput ? output : undefined });
      } else {
        await session?.release();
        session = undefined;
        post({ type: 'done' });
      }
    } catch (error) {
      post({ type: 'error', message: String((error as Error).message ?? error) });
    }
  };
}

/**
 * onnxruntime-web's wasm backend in a worker of its own. Timing covers the round trip to the worker
 * (a postMessage each way, well under a millisecond); the output comes back only for the check run.
 */
export function ortWebRunner(numThreads: number, threadsLabel: string, spawn: () => WorkerChannel, loadModel: ModelLoader): Runner {
  return {
    id: numThreads === 1 ? 'ort-web-1t' : 'ort-web-mt',
    label: `onnxruntime-web wasm, ${threadsLabel}`,
    group: 'peer',
    async prepare(workload) {
      const job = await ortJob(loadModel, workload);
      const worker = spawn();
      let pending: { resolve(m: FromWorker): void } | undefined;
      worker.onMessage((m) => pending?.resolve(m));
      const ask = (message: ToWorker): Promise<FromWorker> =>
        new Promise<FromWorker>((resolve) => {
          pending = { resolve };
          worker.send(message);
        }).then((reply) => {
          if (reply.type === 'error') throw new RnnError('unavailable', `onnxruntime-web: ${reply.message}`);
          return reply;
        });
      let ready: FromWorker;
      try {
        ready = await ask({ type: 'init', job, numThreads });
      } catch (error) {
        worker.terminate();
        throw error;
      }
      let checked = false;
      return {
        detail: `${(ready as { numThreads: number }).numThreads} thread(s)`,
        async run() {
          // Only the first (check) run ships the output back; timed runs return an empty array.
          const reply = await ask({ type: 'run', wantOutput: !checked });
          checked = true;
          return (reply as { output?: Float32Array }).output ?? new Float32Array(0);
        },
        async dispose() {
          await ask({ type: 'dispose' }).catch(() => undefined);
          worker.terminate();
        },
      };
    },
  };
}

export type { BenchConfig };
