import { RnnError, throwIfAborted, yieldToEventLoop } from '@recurrent/core';
import type { Runtime } from './model.js';

// How the engine runs kernels: one call of a runtime at a time (Turns), on every thread of the job
// (runOnThreads), either at once or, with a signal, in blocks of steps it can stop between (runPaced).
//
// Every kernel is written for this (runLayer, and the backward's: src/backward.ts): exported from
// assembly/index.ts as (thread, threads, canWait, sync, ...args) → OK | FAULT, giving each call a range
// of rows or steps whose results stay in linear memory for the next call. Inside `exclusive`, describe
// the work as phases and call `runPaced(runtime, 'kernelName', threads, { whole, phases }, { signal, what, check })`.

/** Where a backend keeps its Runtime, for the package's own tests (not exported by the package). */
export const RUNTIME = Symbol('recurrent.wasm.runtime');

/** Wall time a block aims at: an abort is noticed at the next block boundary. */
export const BLOCK_MS = 8;

/** A first guess of one thread's speed in FLOP per ms (4 GFLOP/s, below a loaded core's), corrected by each block's measured time. */
const FIRST_FLOP_PER_MS = 4e6;

/** The kernels runOnThreads can run: each takes (thread, threads, canWait, sync, ...args) and returns OK (0) or FAULT. */
export type KernelName = 'runLayer' | 'tapeLayer' | 'backLayer' | 'gemmAtB' | 'columnSums' | 'gemmRows';

const OK = 0;

/**
 * The calls of one runtime, one at a time. A call that yields between blocks keeps the linear memory,
 * its model's scratch and the worker pool to itself until it has ended (or stopped at an abort).
 */
export class Turns {
  private last: Promise<unknown> = Promise.resolve();
  /** Calls taken and not yet settled: with none, the next runs at once instead of a promise hop later. */
  private pending = 0;

  /**
   * Runs `work` now when no call is pending, giving back what it gives (a value, or a promise it is then
   * pending on) and throwing what it throws; else after the calls before it, as a promise.
   */
  now<T>(work: () => T | Promise<T>): T | Promise<T> {
    const result = this.pending > 0 ? this.last.then(work) : work();
    if (!(result instanceof Promise)) return result;
    this.pending++;
    const settled = (): void => {
      this.pending--;
    };
    this.last = result.then(settled, settled);
    return result;
  }

  take<T>(work: () => T | Promise<T>): Promise<T> {
    try {
      return Promise.resolve(this.now(work));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/**
 * Runs `work` in the runtime's next turn: first a signal that has already fired stops it, and a worker
 * pool that failed in an earlier call is replaced (by one thread if no new pool starts).
 */
export function exclusive<T>(runtime: Runtime, signal: AbortSignal | null | undefined, what: string, work: () => T | Promise<T>): Promise<T> {
  return runtime.turns.take(inTurn(runtime, signal, what, work));
}

/**
 * exclusive, but when the runtime is idle the work runs now and its value (or the error it throws) comes
 * back as it is, with no promise: a stream's push of one step costs a few microseconds, and every promise
 * hop shows in that.
 */
export function exclusiveNow<T>(runtime: Runtime, signal: AbortSignal | null | undefined, what: string, work: () => T | Promise<T>): T | Promise<T> {
  return runtime.turns.now(inTurn(runtime, signal, what, work));
}

function inTurn<T>(runtime: Runtime, signal: AbortSignal | null | undefined, what: string, work: () => T | Promise<T>): () => T | Promise<T> {
  return () => {
    throwIfAborted(signal, what);
    const { pool } = runtime;
    if (pool === null || pool.failed === null) return work();
    runtime.pool = null;
    return pool.restart().then(
      (restarted) => {
        runtime.pool = restarted;
      },
      () => {
        // One thread from now on: backend.variant says so.
      },
    ).then(() => {
      throwIfAborted(signal, what);
      return work();
    });
  };
}

/**
 * Runs one job on `threads` threads (1, or all of the runtime's pool): `kernel` once per argument
 * list, in order, on every thread. Throws RnnError('internal') when a thread failed (its pool is then
 * spent; the next `exclusive` replaces it).
 */
export function runOnThreads(runtime: Runtime, kernel: KernelName, threads: number, calls: number[][]): void {
  const { pool, canWait } = runtime;
  const run = runtime.kernels[kernel] as (...args: number[]) => number;
  if (threads === 1 || pool === null) {
    for (const args of calls) run(0, 1, canWait ? 1 : 0, 0, ...args);
    return;
  }
  pool.post(kernel, calls);
  let status = OK;
  try {
    for (const args of calls) {
      status = run(0, threads, canWait ? 1 : 0, pool.sync, ...args);
      if (status !== OK) break;
    }
  } catch (cause) {
    // Thread 0 trapped: the workers must not wait for it.
    pool.fail(cause);
    throw new RnnError('internal', `The WASM kernel failed: ${(cause as Error)?.message ?? String(cause)}`, {}, { cause });
  }
  if (status !== OK) {
    const reason = pool.failed ?? new Error('no thread made progress within the watchdog limit');
    pool.fail(reason);
    throw new RnnError('internal', `A WASM worker thread failed during the call (${(reason as Error)?.message ?? String(reason)}); the engine restarts its threads for the next call`, {}, { cause: reason });
  }
}

/**
 * A stretch of a kernel's work that can be cut into blocks: `units` rows or steps of about
 * `flopsPerUnit` each, cut at multiples of `granularity`; `call(from, to)` gives the kernel's
 * arguments for units [from, to), or several argument lists, run in order, that do them (a kernel
 * called once per step, say).
 */
export interface Phase {
  units: number;
  flopsPerUnit: number;
  granularity: number;
  call(from: number, to: number): number[] | number[][];
}

/** A phase's calls for units [from, to), as runOnThreads takes them. */
export const callsOf = (phase: Phase, from: number, to: number): number[][] => {
  const args = phase.call(from, to);
  return Array.isArray(args[0]) ? (args as number[][]) : [args as number[]];
};

/** The same job two ways: `whole`, the calls that do it at once, and `phases`, the same work in order. */
export interface PacedJob {
  whole: number[][];
  phases: Phase[];
}

export interface PaceOptions {
  signal?: AbortSignal | null;
  /** Names the call in the aborted error ('LSTM forward', …). */
  what: string;
  /** Runs after every yield: throws if the call may not go on (its model was disposed meanwhile). */
  check?(): void;
}

const totalFlops = (phases: Phase[]): number => phases.reduce((sum, phase) => sum + phase.units * phase.flopsPerUnit, 0);

/**
 * Runs a job. Without a signal, or when the whole job is smaller than one block, the `whole` calls run
 * now, synchronously (the fastest way: no yield). With a signal, the phases run in blocks of about
 * BLOCK_MS: the first sized from FLOPs at FIRST_FLOP_PER_MS per thread, the next from the speed the last
 * block really had (it may double at most); between blocks it yields to the event loop, so that abort()
 * can run, and stops with RnnError('aborted') once the signal has fired. Every block ends with all
 * threads done (its last barrier), so a stopped job leaves no thread waiting; the results are the same
 * bits as the whole calls when the kernel's cuts are (runLayer: rows in multiples of 64; the backward's
 * kernels: anywhere their phases allow).
 */
export function runPaced(runtime: Runtime, kernel: KernelName, threads: number, job: PacedJob, options: PaceOptions): void | Promise<void> {
  const { signal } = options;
  let flopPerMs = FIRST_FLOP_PER_MS * threads;
  if (!signal || totalFlops(job.phases) <= flopPerMs * BLOCK_MS) {
    runOnThreads(runtime, kernel, threads, job.whole);
    return;
  }
  return (async () => {
    for (const phase of job.phases) {
      for (let from = 0; from < phase.units;) {
        const budget = Math.floor((flopPerMs * BLOCK_MS) / phase.flopsPerUnit / phase.granularity);
        const to = Math.min(phase.units, from + Math.max(1, budget) * phase.granularity);
        const start = performance.now();
        runOnThreads(runtime, kernel, threads, callsOf(phase, from, to));
        const measured = ((to - from) * phase.flopsPerUnit) / Math.max(performance.now() - start, 0.05);
        flopPerMs = Math.min(measured, 2 * flopPerMs);
        from = to;
        await yieldToEventLoop();
        throwIfAborted(signal, options.what);
        options.check?.();
      }
    }
  })();
}
