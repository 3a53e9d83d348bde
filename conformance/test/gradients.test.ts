import { readdirSync } from 'node:fs';
import type { Backend, EngineModel } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { GRADIENT_REGENERATE_COMMAND, decodeGradientCase, exclusionFor, formatGradientTable, runGradientCase } from '../src/gradients.js';
import { GRADIENT_VECTORS_DIR, gradientSpecHash, loadGradientCase, loadGradientExclusions, loadGradientManifest } from '../src/gradients-node.js';

const manifest = loadGradientManifest();
const cases = manifest.cases.map((entry) => loadGradientCase(entry));

describe('the gradient vectors match their spec', () => {
  it('manifest.json records the hash of gradients/spec/ (regenerate after editing the spec)', () => {
    const actual = gradientSpecHash();
    if (manifest.specHash !== actual) expect.fail(`gradients/spec/ changed since the vectors were generated: ${GRADIENT_REGENERATE_COMMAND}`);
  });

  it('every vector file is in the manifest and every entry has its file', () => {
    expect(readdirSync(GRADIENT_VECTORS_DIR).filter((n) => n !== 'manifest.json').sort()).toEqual(manifest.cases.map((c) => c.file).sort());
  });

  it('stay small: under 60 cases and 4 MB', () => {
    expect(cases.length).toBeLessThanOrEqual(60);
    expect(manifest.cases.reduce((sum, c) => sum + c.bytes, 0)).toBeLessThan(4e6);
  });
});

describe('the gradient spec covers what issue 13 asks for, for RNN, LSTM, LSTM-proj and GRU', () => {
  for (const family of ['rnn', 'lstm', 'lstm-proj', 'gru'] as const) {
    const mine = cases.filter((c) => (c.config.mode === 'lstm' && c.config.projSize > 0 ? 'lstm-proj' : c.config.mode) === family);
    const T = (c: (typeof cases)[number]) => c.input.shape[c.input.shape.length === 3 && c.config.batchFirst ? 1 : 0]!;
    it(`${family}: layers, bi, batch_first, lengths, unbatched, no bias, long T, given and zero states`, () => {
      expect(mine.some((c) => c.config.numLayers >= 2)).toBe(true);
      expect(mine.some((c) => c.config.bidirectional)).toBe(true);
      expect(mine.some((c) => c.config.batchFirst && c.input.shape.length === 3)).toBe(true);
      expect(mine.some((c) => c.lengths !== null)).toBe(true);
      expect(mine.some((c) => c.input.shape.length === 2)).toBe(true);
      expect(mine.some((c) => !c.config.bias)).toBe(true);
      expect(mine.some((c) => T(c) >= 200)).toBe(true);
      expect(mine.some((c) => c.h0 !== null) && mine.some((c) => c.h0 === null)).toBe(true);
    });
    it(`${family}: some upstream gradients absent`, () => {
      expect(mine.some((c) => c.upstream.output === null)).toBe(true);
      if (family !== 'lstm-proj') expect(mine.some((c) => c.upstream.hN === null)).toBe(true);
    });
  }
});

/** A backend whose models compute no gradients, as an engine without backward. */
const noBackward: Backend = {
  name: 'fake',
  async createModel(): Promise<EngineModel> {
    return { forward: () => Promise.reject(new Error('unused')), dispose() {} };
  },
  dispose() {},
};

describe('the gradient runner', () => {
  it('an engine without backward fails every case with RnnError(unavailable), and the exclusion list excuses it with its reason', async () => {
    const result = await runGradientCase(noBackward, cases[0]!);
    expect(result.passed).toBe(false);
    expect(result.reason).toMatch(/unavailable/);
    const exclusions = [{ engine: 'fake', family: result.module, reason: 'no backward yet' }];
    expect(exclusionFor(exclusions, result)).toBeDefined();
    expect(formatGradientTable('fake', [result], exclusions)).toMatch(/1 excluded[\s\S]*no backward yet/);
  });

  it('gradients/exclusions.json is valid data: each entry an engine, a module family and a reason', () => {
    for (const e of loadGradientExclusions()) expect(e.reason.length).toBeGreaterThan(10);
  });

  it('refuses a vector file of another format version, naming the file', () => {
    expect(() => decodeGradientCase(new Uint8Array([0x80]), 'x.msgpack')).toThrow(/x\.msgpack/);
  });
});
