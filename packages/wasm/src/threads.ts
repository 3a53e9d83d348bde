import { RnnError } from '@recurrent/core';

/**
 * The whole worker: it instantiates the module on the shared memory, then runs each job it is sent: a
 * kernel (runLayer, …) once per argument list, as thread \`thread\` of \`threads\`. A kernel that returns
 * FAULT (another thread failed) ends the job. A trap here sets the job's fault flag, so that the other
 * threads leave their barriers at once, and tells the host. Kept as source text so that it loads the
 * same way in Node (worker_threads, eval) and in browsers (a Blob URL), with no bundler setup.
 */
const WORKER_SOURCE = `
// Node, Deno and Bun workers have require (Bun's also have a \`self\` that never hears the parent's messages).
const isNode = typeof require === 'function';
const port = isNode ? require('node:worker_threads').parentPort : self;
const listen = (handler) => isNode ? port.on('message', handler) : (self.onmessage = (event) => handler(event.data));
let kernels = null;
let memory = null;
listen(async (message) => {
  if (message.type === 'init') {
    memory = message.memory;
    const instance = await WebAssembly.instantiate(message.module, { env: { memory, now: () => performance.now() } });
    kernels = instance.exports;
    port.postMessage('ready');
    return;
  }
  try {
    for (const args of message.calls) {
      if (kernels[message.kernel](message.thread, message.threads, 1, message.sync, ...args) !== 0) return;
    }
  } catch (error) {
    const flags = new Int32Array(memory.buffer, message.sync, 4);
    Atomics.store(flags, 2, 1);
    Atomics.notify(flags, 1);
    port.postMessage({ type: 'failed', message: String(error && error.message || error) });
  }
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
  on(event: 'message' | 'error' | 'exit', handler: (data: unknown) => void): void;
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
  /** An uncaught error, or (Node) the worker's exit: either way it will run no more jobs. */
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
      onError: (h) => {
        worker.on('error', h);
        worker.on('exit', (code) => h(new Error(`the worker exited (code ${String(code)})`)));
      },
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

/**
 * How long a barrier waits with no thread making progress before it gives up (a worker died or hangs).
 * Threads bump a heartbeat many times a millisecond while they work, so a live one is never that quiet.
 */
export const WATCHDOG_MS = 2_000;

/** Byte offsets in a pool's sync block (see assembly/index.ts). */
const SYNC_FAULT = 8;
const SYNC_WATCHDOG_MS = 12;
const SYNC_GENERATION = 4;

/** The parts of the runtime a pool needs to start its workers and to hold its sync block. */
export interface PoolHome {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  heap: { alloc(bytes: number, what: string): number; release(start: number): void };
}

/**
 * Workers 1…n−1 of a job; the calling thread is thread 0. The pool owns the job's sync block: barrier
 * words, the fault flag and one heartbeat per thread. Once a worker has failed (an error, an exit, a
 * trap, or a barrier's watchdog) the pool is spent: it runs no more jobs and `restart` replaces it.
 */
export class WorkerPool {
  /** Set when a worker fails after starting: no job may then wait for it at a barrier. */
  private failure: unknown = null;
  /** Set once the workers are being stopped: the sync block may then be freed and reused. */
  private closed = false;

  private constructor(
    private readonly workers: AnyWorker[],
    private readonly home: PoolHome,
    /** Byte offset of the sync block in linear memory. */
    readonly sync: number,
  ) {}

  static async start(count: number, home: PoolHome): Promise<WorkerPool> {
    const spawned = await Promise.all(Array.from({ length: count }, () => spawn()));
    const workers = spawned.map((s) => s.worker);
    const sync = home.heap.alloc(64 * (count + 2), 'the thread barrier');
    const flags = new Int32Array(home.memory.buffer, sync, 4);
    flags.fill(0);
    Atomics.store(flags, SYNC_WATCHDOG_MS / 4, WATCHDOG_MS);
    new Int32Array(home.memory.buffer, sync + 64, 16 * (count + 1)).fill(0);
    const pool = new WorkerPool(workers, home, sync);
    try {
      await Promise.all(spawned.map(({ worker, onMessage, onError }) => new Promise<void>((resolve, reject) => {
        // A worker that never answers (blocked by a content security policy, say) must not hang us.
        const timer = setTimeout(() => reject(new Error(`no answer within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
        onMessage((data) => {
          if (data === 'ready') {
            clearTimeout(timer);
            resolve();
          } else if ((data as { type?: string })?.type === 'failed') {
            pool.fail(new Error(`a worker thread trapped: ${(data as { message: string }).message}`));
          }
        });
        onError((error) => {
          clearTimeout(timer);
          pool.fail(error);
          reject(error);
        });
        worker.postMessage({ type: 'init', module: home.module, memory: home.memory });
      })));
    } catch (cause) {
      await pool.close();
      throw new RnnError('unavailable', `WASM worker threads could not start: ${(cause as Error)?.message ?? String(cause)}`, {}, { cause });
    }
    for (const s of spawned) s.unref?.();
    return pool;
  }

  /** Threads of a job: the workers and the caller. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** Why the pool can run no more jobs, or null while it can. */
  get failed(): unknown {
    return this.failure;
  }

  /** How long a barrier waits with no progress before the job fails (tests shorten it). */
  set watchdogMs(ms: number) {
    Atomics.store(new Int32Array(this.home.memory.buffer, this.sync, 4), SYNC_WATCHDOG_MS / 4, ms);
  }

  /**
   * Starts threads 1…n−1 on a job: `kernel` once per argument list (each after thread, threads,
   * canWait, sync); the caller then runs thread 0 on the same calls. Throws RnnError('internal') if a
   * worker has failed.
   */
  post(kernel: string, calls: number[][]): void {
    if (this.failure !== null) {
      const reason = (this.failure as Error)?.message ?? String(this.failure);
      throw new RnnError('internal', `A WASM worker thread has failed (${reason}); the engine restarts its threads for the next call`, {}, { cause: this.failure });
    }
    this.workers.forEach((worker, i) => worker.postMessage({ type: 'job', kernel, thread: i + 1, threads: this.threads, sync: this.sync, calls }));
  }

  /** Marks the pool failed and raises the job's fault flag: every thread leaves its barrier. */
  fail(reason: unknown): void {
    this.failure ??= reason;
    if (this.closed) return;
    const flags = new Int32Array(this.home.memory.buffer, this.sync, 4);
    Atomics.store(flags, SYNC_FAULT / 4, 1);
    Atomics.notify(flags, SYNC_GENERATION / 4);
  }

  /**
   * A new pool of as many workers on the same module and memory, after this one failed; this one's
   * workers are stopped (a hung one too) and its sync block is freed once they have exited.
   */
  async restart(): Promise<WorkerPool> {
    await this.close();
    return WorkerPool.start(this.workers.length, this.home);
  }

  /** Stops the workers, then frees the sync block (left in place if a worker does not exit within a second). */
  async close(): Promise<void> {
    this.fail(new Error('the pool was closed'));
    this.closed = true;
    const exited = Promise.allSettled(this.workers.map((worker) => worker.terminate()));
    const settled = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1_000))]);
    if (settled) this.home.heap.release(this.sync);
  }

  /** Stops the workers now (the backend's dispose). */
  terminate(): void {
    this.fail(new Error('the pool was terminated'));
    this.closed = true;
    for (const worker of this.workers) void worker.terminate();
  }
}
