import { RnnError } from '@recurrent/core';

/**
 * The whole worker: it instantiates the module on the shared memory, then runs `runLayer` for each
 * layer of each job it is sent, as thread `thread` of `threads`. Kept as source text so that it loads
 * the same way in Node (worker_threads, eval) and in browsers (a Blob URL), with no bundler setup.
 */
const WORKER_SOURCE = `
// Node, Deno and Bun workers have require (Bun's also have a \`self\` that never hears the parent's messages).
const isNode = typeof require === 'function';
const port = isNode ? require('node:worker_threads').parentPort : self;
const listen = (handler) => isNode ? port.on('message', handler) : (self.onmessage = (event) => handler(event.data));
let kernels = null;
listen(async (message) => {
  if (message.type === 'init') {
    const instance = await WebAssembly.instantiate(message.module, { env: { memory: message.memory } });
    kernels = instance.exports;
    port.postMessage('ready');
    return;
  }
  for (const args of message.layers) kernels.runLayer(message.thread, message.threads, 1, message.sync, ...args);
});
`;

/** The few methods of a Node or browser worker that the pool uses. */
interface AnyWorker {
  postMessage(message: unknown): void;
  terminate(): unknown;
}

const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

/** The parts of node:os and node:worker_threads used here (the package builds without Node's types). */
interface NodeOs {
  availableParallelism?(): number;
  cpus(): unknown[];
}
interface NodeWorker extends AnyWorker {
  unref(): void;
  on(event: 'message' | 'error', handler: (data: unknown) => void): void;
}
interface NodeWorkerThreads {
  Worker: new (source: string, options: { eval: true }) => NodeWorker;
}

/** Imports a Node built-in module in a way that browser bundlers leave alone (only called in Node). */
const importNode = (name: string): Promise<unknown> => import(/* @vite-ignore */ `node:${name}`);

/** How many threads the machine offers, and whether this runtime can run WASM threads at all. */
export async function threadSupport(): Promise<{ available: boolean; cores: number; reason: string }> {
  if (typeof SharedArrayBuffer === 'undefined') {
    return { available: false, cores: 1, reason: 'no SharedArrayBuffer (browsers need a crossOriginIsolated page: COOP same-origin + COEP require-corp)' };
  }
  if (isNode) {
    const os = (await importNode('os')) as NodeOs;
    return { available: true, cores: os.availableParallelism?.() ?? os.cpus().length, reason: '' };
  }
  const scope = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown; navigator?: { hardwareConcurrency?: number } };
  if (scope.crossOriginIsolated !== true || typeof scope.Worker !== 'function') {
    return { available: false, cores: 1, reason: 'the page is not crossOriginIsolated (COOP same-origin + COEP require-corp), so workers cannot share memory' };
  }
  return { available: true, cores: scope.navigator?.hardwareConcurrency ?? 1, reason: '' };
}

interface Spawned {
  worker: AnyWorker;
  onMessage(handler: (data: unknown) => void): void;
  onError(handler: (error: unknown) => void): void;
  unref?(): void;
}

async function spawn(): Promise<Spawned> {
  if (isNode) {
    const { Worker } = (await importNode('worker_threads')) as NodeWorkerThreads;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    return {
      worker,
      onMessage: (h) => worker.on('message', h),
      onError: (h) => worker.on('error', h),
      // Once started, an idle pool must not keep Node running (adding a listener refs the worker again).
      unref: () => worker.unref(),
    };
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const worker = new Worker(url);
  URL.revokeObjectURL(url);
  return {
    worker,
    onMessage: (h) => worker.addEventListener('message', (event) => h(event.data)),
    onError: (h) => worker.addEventListener('error', (event) => h(event)),
  };
}

const START_TIMEOUT_MS = 20_000;

/** Workers 1…n−1 of a job; the calling thread is thread 0. */
export class WorkerPool {
  private constructor(
    private readonly workers: AnyWorker[],
    /** Set when a worker fails after starting: no job may then wait for it at a barrier. */
    private readonly health: { failure: unknown },
  ) {}

  static async start(count: number, module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<WorkerPool> {
    const spawned = await Promise.all(Array.from({ length: count }, () => spawn()));
    const workers = spawned.map((s) => s.worker);
    const health: { failure: unknown } = { failure: null };
    try {
      await Promise.all(spawned.map(({ worker, onMessage, onError }) => new Promise<void>((resolve, reject) => {
        // A worker that never answers (blocked by a content security policy, say) must not hang us.
        const timer = setTimeout(() => reject(new Error(`no answer within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
        onMessage((data) => {
          if (data !== 'ready') return;
          clearTimeout(timer);
          resolve();
        });
        onError((error) => {
          clearTimeout(timer);
          health.failure = error;
          reject(error);
        });
        worker.postMessage({ type: 'init', module, memory });
      })));
    } catch (cause) {
      for (const worker of workers) void worker.terminate();
      throw new RnnError('unavailable', `WASM worker threads could not start: ${(cause as Error)?.message ?? String(cause)}`, {}, { cause });
    }
    for (const s of spawned) s.unref?.();
    return new WorkerPool(workers, health);
  }

  /** Threads of a job: the workers and the caller. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** Starts threads 1…n−1 on the job's layers; the caller then runs thread 0 with the same arguments. */
  post(sync: number, layers: number[][]): void {
    if (this.health.failure !== null) {
      const reason = (this.health.failure as Error)?.message ?? String(this.health.failure);
      throw new RnnError('internal', `A WASM worker thread has failed (${reason}): create a new backend, or use threads: 1`, {}, { cause: this.health.failure });
    }
    this.workers.forEach((worker, i) => worker.postMessage({ type: 'job', thread: i + 1, threads: this.threads, sync, layers }));
  }

  terminate(): void {
    for (const worker of this.workers) void worker.terminate();
  }
}
