import { describe, expect, it } from 'vitest';
import { isRnnError, runInSlices } from '../src/index.js';

/** The engines' slices are 8 ms (WASM) and 10 ms (CPU). */
const SLICE_MS = 8;

/** A job of `count` steps of about `ms` each (busy: JavaScript that does not yield), counting those done. */
function* job(count: number, ms: number, done: { steps: number }): Generator<void, string> {
  for (let i = 0; i < count; i++) {
    const until = performance.now() + ms;
    while (performance.now() < until);
    done.steps++;
    yield;
  }
  return 'finished';
}

describe('runInSlices (long synchronous work of an engine, as a generator of pieces)', () => {
  it('without a signal runs every step at once, never yielding to the event loop', async () => {
    const done = { steps: 0 };
    let yielded = false;
    setImmediate(() => (yielded = true));
    expect(await runInSlices(job(10, 2, done), null, 'backward', SLICE_MS, () => {})).toBe('finished');
    expect(done.steps).toBe(10);
    expect(yielded).toBe(false);
  });

  it('with a signal yields about every sliceMs, calls check after each yield, and gives the value', async () => {
    const done = { steps: 0 };
    let checks = 0;
    const value = await runInSlices(job(24, SLICE_MS / 4, done), new AbortController().signal, 'backward', SLICE_MS, () => checks++);
    expect(value).toBe('finished');
    expect(done.steps).toBe(24);
    // 24 quarter-blocks: a yield after about every fourth step (bounds loose enough for a loaded machine:
    // at least one yield in 6 blocks' time, and not one after every step).
    expect(checks).toBeGreaterThanOrEqual(1);
    expect(checks).toBeLessThan(24);
  });

  it('stops with aborted at the first yield after the signal fired, running no step after it', async () => {
    const done = { steps: 0 };
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 0);
    const error = await runInSlices(job(40, SLICE_MS / 2, done), controller.signal, 'backward', SLICE_MS, () => {}).then(() => null, (e: unknown) => e);
    expect(isRnnError(error, 'aborted')).toBe(true);
    expect(done.steps).toBeGreaterThan(0);
    expect(done.steps).toBeLessThan(40);
  });

  it('stops with what check throws (a model disposed meanwhile)', async () => {
    const done = { steps: 0 };
    const error = await runInSlices(job(40, SLICE_MS / 2, done), new AbortController().signal, 'backward', SLICE_MS, () => {
      throw new Error('disposed meanwhile');
    }).then(() => null, (e: unknown) => e);
    expect((error as Error).message).toBe('disposed meanwhile');
    expect(done.steps).toBeLessThan(40);
  });
});
