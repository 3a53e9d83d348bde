import { throwIfAborted } from '@recurrent/core';
import { scoped } from './gpu.js';

/** GPU work between two looks at the signal: well inside the 50 ms a cancelled call may take to stop. */
export const BLOCK_SECONDS = 0.015;
/** The first block of a kind on a model: small enough for a software GPU (~0.3 GFLOP/s: ~3 ms). */
const FIRST_BLOCK_FLOPS = 1e6;
/** Blocks in flight at once: the next one is queued while the GPU runs the current one, so it never idles. */
const DEPTH = 2;

/** One submission's worth of encoded GPU work. */
export interface Block {
  commands: GPUCommandBuffer[];
  /** What kind of work it is (e.g. 'projection', 'recurrence'): each kind has its own measured speed. */
  kind: string;
  /** Its floating-point operations, which size the next block of its kind. */
  flops: number;
}

/**
 * How fast each kind of block ran on this model's GPU, so that blocks are sized to BLOCK_SECONDS from
 * their FLOPs. GPUs differ by 10⁴× (SwiftShader to a data-centre GPU), so it learns: a first block of
 * FIRST_BLOCK_FLOPS, then each block at most 4× the last, until the measured rate says BLOCK_SECONDS.
 */
export class Pace {
  private readonly flopsPerSecond = new Map<string, number>();
  private readonly lastFlops = new Map<string, number>();

  /** The FLOPs the next block of this kind may have (an encoder takes at least one step or tile). */
  budget(kind: string): number {
    const rate = this.flopsPerSecond.get(kind);
    const last = this.lastFlops.get(kind);
    if (rate === undefined || last === undefined) return FIRST_BLOCK_FLOPS;
    return Math.max(FIRST_BLOCK_FLOPS, Math.min(rate * BLOCK_SECONDS, 4 * last));
  }

  record(kind: string, flops: number, seconds: number): void {
    this.lastFlops.set(kind, flops);
    if (seconds > 0 && flops > 0) this.flopsPerSecond.set(kind, flops / seconds);
  }
}

/**
 * Submits a call's GPU work. Without a signal: every block in one submission (nothing between them).
 * With one: block by block, at most DEPTH in flight, each block's time measured into `pace`; before
 * each submission it checks the signal and calls `check`, so an aborted call stops after the blocks in
 * flight (RnnError('aborted'), at once: it waits for nothing) and a disposed model or backend, or a
 * lost device, ends it with what `check` throws ('disposed', 'device-lost'). What was submitted
 * finishes on the GPU (destroying a buffer waits for the work submitted on it) and the next call's
 * work queues behind it (writeBuffer and submit are ordered on the queue), so no call sees another's
 * half-work.
 *
 * `check` throws once the call's buffers may have been destroyed (its model or backend disposed) or
 * the device is gone: a submission or a mapAsync on a destroyed buffer is a validation error that
 * the GPU reports outside any error scope. The caller calls it again right before its read-back's
 * mapAsync, with no await in between: a dispose may land while this function awaits.
 *
 * `blocks` is iterated lazily: an encoder may size each block by `pace.budget(kind)` and write its
 * uniforms (queue.writeBuffer is ordered with submissions) just before yielding it. Each block is
 * encoded and submitted inside error scopes; the promise gives the first error the GPU reported
 * (out-of-memory before validation), or null.
 *
 * Backward (src/backward*.ts): encode your step blocks as a generator of Block (sized by
 * `pace?.budget(kind)` when a pace is given, whole layers otherwise), then
 * `const gpuError = await submitBlocks(device, blocks, plan.signal, plan.signal ? this.pace : null, check, 'The backward')`,
 * then `check()` and the read-back; map a rejected mapAsync with isDeviceLoss/deviceLostError (gpu.ts).
 */
export async function submitBlocks(device: GPUDevice, blocks: Iterable<Block>, signal: AbortSignal | null | undefined, pace: Pace | null, check: () => void, what?: string): Promise<GPUError | null> {
  const { queue } = device;
  if (!signal || pace === null) {
    check();
    return scoped(device, () => queue.submit([...blocks].flatMap((b) => b.commands))).error;
  }
  const errors: Promise<GPUError | null>[] = [];
  const inFlight: Promise<void>[] = [];
  const iterator = blocks[Symbol.iterator]();
  let lastDone = performance.now();
  for (;;) {
    throwIfAborted(signal, what);
    check();
    const submitted = performance.now();
    const { value: next, error } = scoped(device, () => {
      const next = iterator.next();
      if (!next.done) queue.submit(next.value.commands);
      return next;
    });
    errors.push(error);
    if (next.done) break;
    const { kind, flops } = next.value;
    const done = queue.onSubmittedWorkDone().then(() => {
      // This block's GPU time: from when it could start (submitted, and the one before done) to done.
      const now = performance.now();
      pace.record(kind, flops, (now - Math.max(submitted, lastDone)) / 1000);
      lastDone = now;
    });
    done.catch(() => undefined); // an abandoned block's end on a lost device is nobody's error
    inFlight.push(done);
    if (inFlight.length >= DEPTH) await inFlight.shift();
  }
  await Promise.all(inFlight);
  throwIfAborted(signal, what);
  check();
  for (const error of errors) {
    const reported = await error;
    if (reported) return reported;
  }
  return null;
}
