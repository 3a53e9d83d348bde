import { expect } from 'vitest';
import { RnnError, type RnnErrorCode } from '../src/index.js';

/** Asserts that `run` fails with an RnnError of `code` whose message matches every pattern. */
export async function expectRnnError(run: () => unknown, code: RnnErrorCode, ...patterns: (RegExp | string)[]): Promise<RnnError> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected an RnnError, but nothing was thrown').toBeInstanceOf(RnnError);
  const error = caught as RnnError;
  expect(error.code).toBe(code);
  for (const pattern of patterns) expect(error.message).toMatch(pattern);
  return error;
}
