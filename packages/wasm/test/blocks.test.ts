import { isRnnError } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { BLOCK_MS, runSteps } from '../src/blocks.js';

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

describe('runSteps (JavaScript parts of a paced call: packing and unpacking weights)', () => {
  it('without a signal runs every step at once, never yielding to the event loop', async () => {
    const done = { steps: 0 };
    let yielded = false;
    setImmediate(() => (yielded = true));
    expect(await runSteps(job(10, 2, done), null, 'backward', () => {})).toBe('finished');
    expect(done.steps).toBe(10);
    expect(yielded).toBe(false);
  });

  it('with a signal yields about every BLOCK_MS, calls check after each yield, and gives the value', async () => {
    const done = { steps: 0 };
    let checks = 0;
    const value = await runSteps(job(24, BLOCK_MS / 4, done), new AbortController().signal, 'backward', () => checks++);
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
    const error = await runSteps(job(40, BLOCK_MS / 2, done), controller.signal, 'backward', () => {}).then(() => null, (e: unknown) => e);
    expect(isRnnError(error, 'aborted')).toBe(true);
    expect(done.steps).toBeGreaterThan(0);
    expect(done.steps).toBeLessThan(40);
  });

  it('stops with what check throws (a model disposed meanwhile)', async () => {
    const done = { steps: 0 };
    const error = await runSteps(job(40, BLOCK_MS / 2, done), new AbortController().signal, 'backward', () => {
      throw new Error('disposed meanwhile');
    }).then(() => null, (e: unknown) => e);
    expect((error as Error).message).toBe('disposed meanwhile');
    expect(done.steps).toBeLessThan(40);
  });
});
