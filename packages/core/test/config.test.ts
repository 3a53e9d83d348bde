import { describe, expect, it } from 'vitest';
import { forwardFlops, resolveConfig, type RnnConfig } from '../src/index.js';
import { expectRnnError } from './helpers.js';

describe('resolveConfig', () => {
  it("fills in nn.RNN's defaults", () => {
    expect(resolveConfig({ inputSize: 3, hiddenSize: 4 })).toEqual({
      mode: 'rnn', inputSize: 3, hiddenSize: 4, numLayers: 1, nonlinearity: 'tanh', bias: true, batchFirst: false, dropout: 0, bidirectional: false, projSize: 0,
    });
  });

  it.each([
    ['inputSize', 0, /config\.inputSize must be a positive integer\. Expected an integer ≥ 1, got 0/],
    ['inputSize', -3, /config\.inputSize .* got -3/],
    ['hiddenSize', 2.5, /config\.hiddenSize .* got 2\.5/],
    ['hiddenSize', NaN, /config\.hiddenSize .* got NaN/],
    ['hiddenSize', '8', /config\.hiddenSize .* got "8"/],
    ['numLayers', 0, /config\.numLayers .* got 0/],
    ['numLayers', Infinity, /config\.numLayers .* got Infinity/],
  ])('rejects %s = %s with the field, expected and actual', async (field, value, message) => {
    const config = { inputSize: 3, hiddenSize: 4, [field]: value } as unknown as RnnConfig;
    const error = await expectRnnError(() => resolveConfig(config), 'config', message);
    expect(error.details.field).toBe(field);
  });

  it('rejects an unknown nonlinearity', async () => {
    await expectRnnError(() => resolveConfig({ inputSize: 1, hiddenSize: 1, nonlinearity: 'sigmoid' as 'tanh' }), 'config',
      "config.nonlinearity must be 'tanh' or 'relu'. Unknown nonlinearity \"sigmoid\"");
  });

  it('rejects non-boolean flags and a dropout outside [0, 1]', async () => {
    await expectRnnError(() => resolveConfig({ inputSize: 1, hiddenSize: 1, bidirectional: 1 as unknown as boolean }), 'config', /config\.bidirectional must be a boolean\. Expected true or false, got 1/);
    await expectRnnError(() => resolveConfig({ inputSize: 1, hiddenSize: 1, batchFirst: 'yes' as unknown as boolean }), 'config', /config\.batchFirst/);
    await expectRnnError(() => resolveConfig({ inputSize: 1, hiddenSize: 1, dropout: 1.5 }), 'config', /config\.dropout must be a number in \[0, 1\], got 1\.5/);
  });

  it('rejects unknown options (a typo must not be ignored) and non-objects', async () => {
    await expectRnnError(() => resolveConfig({ inputSize: 1, hiddenSize: 1, hidenSize: 2 } as RnnConfig), 'config', /unknown option\(s\) "hidenSize"/);
    await expectRnnError(() => resolveConfig(null as unknown as RnnConfig), 'config', /config must be an object/);
  });

  it('counts forward FLOPs as 2·N·L·D·Σ(I_l·H + H·H)', () => {
    // M: B32 T128 I256 H256, 2 layers, bidirectional: layer 0 in 256, layer 1 in 512.
    expect(forwardFlops({ inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true }, 32, 128))
      .toBe(2 * 32 * 128 * 2 * (256 * 256 + 256 * 256 + 512 * 256 + 256 * 256));
  });
});
