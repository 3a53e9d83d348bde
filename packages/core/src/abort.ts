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

/** Lets timers and abort events run: engines await it between step blocks of long synchronous work. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
