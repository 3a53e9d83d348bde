import { RnnError } from './errors.js';

/** Checks an AbortSignal passed in options: one that is not a signal is a `type` error. */
export function checkSignal(value: unknown): AbortSignal | null {
  if (value === undefined || value === null) return null;
  const candidate = value as Partial<AbortSignal>;
  if (typeof candidate !== 'object' || typeof candidate.aborted !== 'boolean' || typeof candidate.addEventListener !== 'function') {
    throw new RnnError('type', `options.signal must be an AbortSignal (from new AbortController().signal), got ${typeof value}`, { field: 'signal' });
  }
  return value as AbortSignal;
}

/** The error an aborted call rejects with; the signal's reason is kept as `cause`. */
export function abortedError(signal: AbortSignal, what = 'The call'): RnnError {
  return new RnnError('aborted', `${what} was aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : ''}`, {}, { cause: signal.reason });
}

/** Throws RnnError('aborted') when the signal has fired: engines call it between steps or step blocks. */
export function throwIfAborted(signal: AbortSignal | null | undefined, what?: string): void {
  if (signal?.aborted) throw abortedError(signal, what);
}

/**
 * Rejects with RnnError('aborted') as soon as the signal fires, even while `work` is still running
 * (the engine stops at its next check and its late result or error is dropped); otherwise settles as
 * `work` does.
 */
export function abortable<T>(signal: AbortSignal | null | undefined, work: () => Promise<T>, what?: string): Promise<T> {
  if (!signal) return work();
  throwIfAborted(signal, what);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortedError(signal, what));
    signal.addEventListener('abort', onAbort, { once: true });
    work().then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

type Scope = { setImmediate?: (callback: () => void) => unknown; MessageChannel?: typeof MessageChannel };

/**
 * Lets timers and abort events run, at the cost of one event-loop turn: engines await it between blocks
 * of long synchronous work. setImmediate where it exists (Node, Bun), else a MessageChannel message
 * (browsers, Deno): a setTimeout(0) waits at least 1 ms in Node and, nested, 4 ms in browsers, which
 * made a Chromium forward with a signal 1.5× slower on the CPU engine.
 */
export function yieldToEventLoop(): Promise<void> {
  const scope = globalThis as Scope;
  if (typeof scope.setImmediate === 'function') return new Promise((resolve) => scope.setImmediate!(resolve));
  if (typeof scope.MessageChannel === 'function') {
    return new Promise((resolve) => {
      const channel = new scope.MessageChannel!();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Runs long synchronous work written as a generator that yields between pieces of bounded size (its
 * return value is the work's). Without a signal, every piece now: the promise is settled when this
 * returns. With one, pieces for about `sliceMs` at a time, then a yield to the event loop, after which it
 * stops with RnnError('aborted') if the signal has fired, or with what `check` throws (a model disposed
 * meanwhile). An abandoned generator holds nothing: its buffers are garbage.
 */
export async function runInSlices<T>(work: Generator<void, T, void>, signal: AbortSignal | null | undefined, what: string, sliceMs: number, check?: () => void): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const next = work.next();
    if (next.done) return next.value;
    if (!signal || performance.now() - sliceStart < sliceMs) continue;
    await yieldToEventLoop();
    throwIfAborted(signal, what);
    check?.();
    sliceStart = performance.now();
  }
}
