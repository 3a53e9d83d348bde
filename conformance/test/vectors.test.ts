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

  it('each case says its module: in the manifest, in its features, and (LSTM, GRU, cells) in its id', () => {
    for (const c of cases) {
      const entry = manifest.cases.find((e) => e.id === c.id)!;
      expect(entry.module).toBe(moduleFamily(c.config));
      expect(c.features).toContain(c.config.mode);
      expect(c.features.includes('cell')).toBe(c.config.cell);
      if (c.config.cell) expect(c.id.startsWith(`${c.config.mode}-cell-`)).toBe(true);
      else if (c.config.mode !== 'rnn') expect(c.id.startsWith(`${c.config.mode}-`)).toBe(true);
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
  type Case = (typeof allCases)[number];
  const T = (c: Case) => c.input.shape[c.input.shape.length === 2 || !c.config.batchFirst ? 0 : 1]!;
  const B = (c: Case) => (c.input.shape.length === 2 ? 1 : c.input.shape[c.config.batchFirst ? 0 : 1]!);
  const hasNonFinite = (values: ArrayLike<number> | undefined, which: 'nan' | 'inf') =>
    values !== undefined && Array.prototype.some.call(values, (v: number) => (which === 'nan' ? Number.isNaN(v) : v === Infinity || v === -Infinity));
  const nonFiniteIn = (c: Case, where: 'input' | 'h0' | 'c0' | 'weights', which: 'nan' | 'inf') =>
    where === 'weights' ? Object.values(c.stateDict).some((t) => hasNonFinite(t.data, which)) : hasNonFinite(c[where]?.data, which);

  for (const mode of ['lstm', 'gru'] as const) {
    const cases = allCases.filter((c) => c.config.mode === mode && c.config.projSize === 0);
    const some = (predicate: (c: Case) => boolean) => cases.some(predicate);

    it(`${mode}: the full product uni/bi × 1–2 layers × batch_first × bias × states given (32 cases)`, () => {
      const product = cases.filter((c) => c.features.includes('product'));
      const keys = new Set(product.map((c) => JSON.stringify([c.config.bidirectional, c.config.numLayers, c.config.batchFirst, c.config.bias, c.h0 !== null])));
      expect(keys.size).toBe(2 * 2 * 2 * 2 * 2);
    });

    it(`${mode}: unbatched input, also with batch_first=True and with states`, () => {
      expect(some((c) => c.input.shape.length === 2 && !c.config.batchFirst)).toBe(true);
      expect(some((c) => c.input.shape.length === 2 && c.config.batchFirst)).toBe(true);
      expect(some((c) => c.input.shape.length === 2 && c.h0 !== null && c.config.bidirectional)).toBe(true);
    });

    it(`${mode}: variable lengths: uni and bi, with states, batch_first, several layers, lengths 1 and full, unsorted`, () => {
      const withLengths = cases.filter((c) => c.lengths !== null);
      expect(withLengths.some((c) => !c.config.bidirectional)).toBe(true);
      expect(withLengths.some((c) => c.config.bidirectional && c.h0 !== null)).toBe(true);
      expect(withLengths.some((c) => c.config.batchFirst && c.config.numLayers > 1)).toBe(true);
      expect(withLengths.some((c) => c.lengths!.includes(1) && c.lengths!.includes(T(c)))).toBe(true);
      expect(withLengths.some((c) => c.lengths!.every((l) => l === 1))).toBe(true);
      expect(withLengths.some((c) => c.lengths!.every((l) => l === T(c)))).toBe(true);
      expect(withLengths.some((c) => c.lengths!.some((l, i) => i > 0 && l > c.lengths![i - 1]!))).toBe(true);
    });

    it(`${mode}: edge sizes T=1, B=1, odd B, I=1, H=1 and H not a multiple of 4`, () => {
      expect(some((c) => T(c) === 1)).toBe(true);
      expect(some((c) => B(c) === 1 && c.input.shape.length === 3)).toBe(true);
      expect(some((c) => B(c) > 4 && B(c) % 2 === 1)).toBe(true);
      expect(some((c) => c.config.inputSize === 1)).toBe(true);
      expect(some((c) => c.config.hiddenSize === 1)).toBe(true);
      expect(some((c) => c.config.hiddenSize > 16 && c.config.hiddenSize % 4 !== 0)).toBe(true);
    });

    it(`${mode}: NaN and ±Inf in the input, the initial state${mode === 'lstm' ? 's (h0 and c0)' : ''}, the weights, and in padding`, () => {
      expect(some((c) => nonFiniteIn(c, 'input', 'nan'))).toBe(true);
      expect(some((c) => nonFiniteIn(c, 'input', 'inf'))).toBe(true);
      expect(some((c) => nonFiniteIn(c, 'h0', 'nan') || nonFiniteIn(c, 'h0', 'inf'))).toBe(true);
      if (mode === 'lstm') expect(some((c) => nonFiniteIn(c, 'c0', 'inf'))).toBe(true);
      expect(some((c) => nonFiniteIn(c, 'weights', 'nan'))).toBe(true);
      expect(some((c) => nonFiniteIn(c, 'weights', 'inf'))).toBe(true);
      expect(some((c) => c.lengths !== null && nonFiniteIn(c, 'input', 'nan'))).toBe(true);
    });

    it(`${mode}: saturating gates, long (T = 1000), large (H ≥ 129 and not a multiple of 4; H = 256) and deep (≥ 4 layers) cases`, () => {
      expect(cases.filter((c) => c.features.includes('saturating')).length).toBeGreaterThanOrEqual(4);
      expect(some((c) => T(c) >= 1000)).toBe(true);
      expect(some((c) => T(c) >= 500 && c.config.bidirectional && c.h0 !== null)).toBe(true);
      expect(some((c) => T(c) >= 500 && c.lengths !== null && c.config.numLayers > 1)).toBe(true);
      expect(some((c) => c.config.hiddenSize >= 129 && c.config.hiddenSize % 4 !== 0 && B(c) % 2 === 1)).toBe(true);
      expect(some((c) => c.config.hiddenSize >= 256 && c.config.inputSize >= 128)).toBe(true);
      expect(some((c) => c.config.hiddenSize >= 129 && c.config.bidirectional && c.config.numLayers === 2 && c.lengths !== null)).toBe(true);
      expect(some((c) => c.config.numLayers >= 4 && c.config.bidirectional && c.h0 !== null)).toBe(true);
    });
  }

  it('lstm: the cell state grows far past ±1 somewhere, and c_n is compared', () => {
    const cN = (c: Case) => Math.max(...Array.from(c.ref64.cN?.data ?? [0], Math.abs));
    expect(allCases.some((c) => c.config.mode === 'lstm' && cN(c) > 30)).toBe(true);
  });

  describe('lstm with proj_size', () => {
    const proj = allCases.filter((c) => c.config.projSize > 0);
    const some = (predicate: (c: Case) => boolean) => proj.some(predicate);
    it('uni/bi × 1–2 layers × states given, and h_n is proj wide while c_n is hidden wide', () => {
      const keys = new Set(proj.filter((c) => c.config.numLayers <= 2).map((c) => JSON.stringify([c.config.bidirectional, c.config.numLayers, c.h0 !== null])));
      expect(keys.size).toBe(2 * 2 * 2);
      for (const c of proj) {
        expect(c.ref64.hN.shape.at(-1)).toBe(c.config.projSize);
        expect(c.ref64.cN!.shape.at(-1)).toBe(c.config.hiddenSize);
      }
    });
    it('with lengths and states, several layers (3 and 4), batch_first, no bias, unbatched', () => {
      expect(some((c) => c.lengths !== null && c.h0 !== null && c.config.bidirectional)).toBe(true);
      expect(some((c) => c.config.numLayers === 3 && c.lengths !== null)).toBe(true);
      expect(some((c) => c.config.numLayers >= 4)).toBe(true);
      expect(some((c) => c.config.batchFirst)).toBe(true);
      expect(some((c) => !c.config.bias)).toBe(true);
      expect(some((c) => c.input.shape.length === 2 && c.h0 !== null)).toBe(true);
    });
    it('proj_size 1 and H − 1, long, large, saturating and non-finite (NaN in W_hr)', () => {
      expect(some((c) => c.config.projSize === 1)).toBe(true);
      expect(some((c) => c.config.projSize === c.config.hiddenSize - 1)).toBe(true);
      expect(some((c) => T(c) >= 500)).toBe(true);
      expect(some((c) => c.config.hiddenSize >= 129 && c.config.projSize % 4 !== 0)).toBe(true);
      expect(some((c) => c.features.includes('saturating'))).toBe(true);
      expect(some((c) => Object.entries(c.stateDict).some(([name, t]) => name.startsWith('weight_hr') && hasNonFinite(t.data, 'nan')))).toBe(true);
    });
  });
});

describe('the cell specs cover what issue 12 asks for', () => {
  type Case = (typeof allCases)[number];
  const isNonFinite = (v: number) => !Number.isFinite(v);
  for (const mode of ['rnn', 'lstm', 'gru'] as const) {
    const cells = allCases.filter((c) => c.config.cell && c.config.mode === mode);
    const some = (predicate: (c: Case) => boolean) => cells.some(predicate);
    const batched = (c: Case) => c.input.shape.length === 2;

    it(`${mode} cell: 15 to 30 small cases, h′ ${mode === 'lstm' ? 'and c′ ' : ''}(N, H) or (H), no output`, () => {
      expect(cells.length).toBeGreaterThanOrEqual(15);
      expect(cells.length).toBeLessThanOrEqual(30);
      for (const c of cells) {
        expect(c.ref64.output).toBeNull();
        expect(c.ref64.hN.shape).toEqual(batched(c) ? [c.input.shape[0], c.config.hiddenSize] : [c.config.hiddenSize]);
        expect(c.ref64.cN?.shape ?? null).toEqual(mode === 'lstm' ? c.ref64.hN.shape : null);
        expect(c.config.hiddenSize).toBeLessThanOrEqual(64);
      }
    });

    it(`${mode} cell: batched and unbatched, with and without ${mode === 'lstm' ? '[h, c]' : 'h'}, no bias${mode === 'rnn' ? ', relu' : ''}`, () => {
      for (const withBatch of [true, false]) {
        for (const withState of [true, false]) {
          for (const bias of [true, false]) expect(some((c) => batched(c) === withBatch && (c.h0 !== null) === withState && c.config.bias === bias)).toBe(true);
        }
      }
      if (mode === 'rnn') expect(some((c) => c.config.nonlinearity === 'relu' && !batched(c))).toBe(true);
    });

    it(`${mode} cell: sizes I=1, H=1, N=1, odd N and H not a multiple of 4; saturating; NaN/±Inf`, () => {
      expect(some((c) => c.config.inputSize === 1 && c.config.hiddenSize === 1)).toBe(true);
      expect(some((c) => batched(c) && c.input.shape[0] === 1)).toBe(true);
      expect(some((c) => batched(c) && c.input.shape[0]! > 8 && c.input.shape[0]! % 2 === 1)).toBe(true);
      expect(some((c) => c.config.hiddenSize > 16 && c.config.hiddenSize % 4 !== 0)).toBe(true);
      expect(cells.filter((c) => c.features.includes('saturating')).length).toBeGreaterThanOrEqual(2);
      expect(some((c) => Array.prototype.some.call(c.input.data, isNonFinite))).toBe(true);
      expect(some((c) => c.h0 !== null && Array.prototype.some.call(c.h0.data, isNonFinite))).toBe(true);
      expect(some((c) => Object.values(c.stateDict).some((t) => Array.prototype.some.call(t.data, isNonFinite)))).toBe(true);
      if (mode === 'lstm') expect(some((c) => c.c0 !== null && Array.prototype.some.call(c.c0.data, isNonFinite))).toBe(true);
    });
  }
});
