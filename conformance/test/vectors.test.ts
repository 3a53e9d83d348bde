import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REGENERATE_COMMAND, moduleFamily } from '../src/format.js';
import { VECTORS_DIR, countFeatures, loadCase, loadManifest, specHash } from '../src/node.js';

const manifest = loadManifest();
const allCases = manifest.cases.map((entry) => loadCase(entry));
const cases = allCases;

describe('the vectors match the spec', () => {
  it('manifest.json records the hash of spec/ (regenerate after editing the spec)', () => {
    const actual = specHash();
    if (manifest.specHash !== actual) {
      expect.fail(`spec/ has changed since the vectors were generated (spec ${actual.slice(0, 12)}, vectors ${manifest.specHash.slice(0, 12)}). Regenerate them with: ${REGENERATE_COMMAND}`);
    }
  });

  it('every vector file is in the manifest and every manifest entry has its file', () => {
    const files = readdirSync(VECTORS_DIR).filter((name) => name !== 'manifest.json').sort();
    expect(files).toEqual(manifest.cases.map((c) => c.file).sort());
  });

  it('each file holds the case the manifest names, with the same features', () => {
    for (const [i, c] of cases.entries()) {
      expect(c.id).toBe(manifest.cases[i]!.id);
      expect(c.features).toEqual(manifest.cases[i]!.features);
    }
  });

  it('the committed vectors stay small (under 25 MB)', () => {
    const total = manifest.cases.reduce((sum, c) => sum + c.bytes, 0);
    expect(total).toBeLessThan(25e6);
  });

  it('each case says its module: in the manifest, in its features, and (LSTM, GRU) in its id', () => {
    for (const c of cases) {
      const entry = manifest.cases.find((e) => e.id === c.id)!;
      expect(entry.module).toBe(moduleFamily(c.config));
      expect(c.features).toContain(c.config.mode);
      if (c.config.mode !== 'rnn') expect(c.id.startsWith(`${c.config.mode}-`)).toBe(true);
      expect(c.c0 !== null).toBe(c.config.mode === 'lstm' && c.h0 !== null);
      expect(c.ref64.cN !== null).toBe(c.config.mode === 'lstm');
    }
  });
});

describe('the RNN spec covers what issue 3 asks for', () => {
  const cases = allCases.filter((c) => c.config.mode === 'rnn');
  const counts = countFeatures(manifest.cases.filter((e) => e.module === 'rnn'));
  const some = (predicate: (c: (typeof cases)[number]) => boolean) => cases.some(predicate);

  it('the full product uni/bi × 1–3 layers × batch_first × tanh/relu × bias × h0 (96 cases)', () => {
    const product = cases.filter((c) => c.features.includes('product'));
    const keys = new Set(product.map((c) => JSON.stringify([c.config.bidirectional, c.config.numLayers, c.config.batchFirst, c.config.nonlinearity, c.config.bias, c.h0 !== null])));
    expect(keys.size).toBe(2 * 3 * 2 * 2 * 2 * 2);
  });

  it('unbatched input, also with batch_first=True', () => {
    expect(some((c) => c.input.shape.length === 2 && !c.config.batchFirst)).toBe(true);
    expect(some((c) => c.input.shape.length === 2 && c.config.batchFirst)).toBe(true);
  });

  it('variable lengths: uni and bi, with h0, batch_first, several layers, lengths 1 and full, unsorted', () => {
    const withLengths = cases.filter((c) => c.lengths !== null);
    const T = (c: (typeof cases)[number]) => c.input.shape[c.config.batchFirst ? 1 : 0]!;
    expect(withLengths.some((c) => !c.config.bidirectional)).toBe(true);
    expect(withLengths.some((c) => c.config.bidirectional && c.h0 !== null)).toBe(true);
    expect(withLengths.some((c) => c.config.batchFirst && c.config.numLayers > 1)).toBe(true);
    expect(withLengths.some((c) => c.lengths!.includes(1) && c.lengths!.includes(T(c)))).toBe(true);
    expect(withLengths.some((c) => c.lengths!.some((l, i) => i > 0 && l > c.lengths![i - 1]!))).toBe(true);
  });

  it('edge sizes T=1, B=1, I=1, H=1 and H not a multiple of 4, 8 or 16', () => {
    const T = (c: (typeof cases)[number]) => c.input.shape[c.input.shape.length === 2 || !c.config.batchFirst ? 0 : 1]!;
    const B = (c: (typeof cases)[number]) => (c.input.shape.length === 2 ? 1 : c.input.shape[c.config.batchFirst ? 0 : 1]!);
    expect(some((c) => T(c) === 1)).toBe(true);
    expect(some((c) => B(c) === 1)).toBe(true);
    expect(some((c) => c.config.inputSize === 1)).toBe(true);
    expect(some((c) => c.config.hiddenSize === 1)).toBe(true);
    expect(some((c) => c.config.hiddenSize > 16 && c.config.hiddenSize % 4 !== 0)).toBe(true);
  });

  it('saturating, deep relu, long (T ≥ 500) and large (H ≥ 256, B ≥ 8, I ≥ 128) cases', () => {
    expect(counts.get('saturating')).toBeGreaterThanOrEqual(3);
    expect(some((c) => c.config.nonlinearity === 'relu' && c.config.numLayers >= 5)).toBe(true);
    expect(some((c) => c.input.shape[c.config.batchFirst ? 1 : 0]! >= 500)).toBe(true);
    expect(some((c) => c.config.hiddenSize >= 256 && c.config.inputSize >= 128 && c.input.shape[c.config.batchFirst ? 0 : 1]! >= 8)).toBe(true);
  });
});

describe('the LSTM and GRU specs cover what issue 11 asks for', () => {
  for (const mode of ['lstm', 'gru'] as const) {
    const cases = allCases.filter((c) => c.config.mode === mode && c.config.projSize === 0);
    it(`${mode}: the full product uni/bi × 1–2 layers × batch_first × bias × h0 (32 cases)`, () => {
      const product = cases.filter((c) => c.features.includes('product'));
      const keys = new Set(product.map((c) => JSON.stringify([c.config.bidirectional, c.config.numLayers, c.config.batchFirst, c.config.bias, c.h0 !== null])));
      expect(keys.size).toBe(2 * 2 * 2 * 2 * 2);
    });
    it(`${mode}: variable lengths, uni and bi, with states`, () => {
      const withLengths = cases.filter((c) => c.lengths !== null);
      expect(withLengths.some((c) => !c.config.bidirectional)).toBe(true);
      expect(withLengths.some((c) => c.config.bidirectional && c.h0 !== null)).toBe(true);
    });
  }

  it('lstm with proj_size: uni and bi, one and two layers, with and without states, with lengths', () => {
    const proj = allCases.filter((c) => c.config.projSize > 0);
    const keys = new Set(proj.map((c) => JSON.stringify([c.config.bidirectional, c.config.numLayers, c.h0 !== null])));
    expect(keys.size).toBe(2 * 2 * 2);
    expect(proj.some((c) => c.lengths !== null && c.h0 !== null)).toBe(true);
  });
});
