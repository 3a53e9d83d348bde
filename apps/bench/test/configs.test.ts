import { readFileSync } from 'node:fs';
import { forwardFlops, isRnnError } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { CONFIGS, describeConfig, onnxModelFile, parseConfig } from '../src/configs.js';

describe('configs', () => {
  it('S, M and L are the sizes of issue 7', () => {
    expect(describeConfig(CONFIGS.S!)).toBe('B1 T100 I64 H64');
    expect(describeConfig(CONFIGS.M!)).toBe('B32 T128 I256 H256, 2 layers, bidirectional, batch_first');
    expect(describeConfig(CONFIGS.L!)).toBe('B64 T256 I512 H512');
    // FLOPs = 2·B·T·D·Σ_layers(I_l·H + H·H)
    expect(forwardFlops(CONFIGS.M!.rnn, 32, 128)).toBe(2 * 32 * 128 * 2 * (256 * 256 + 256 * 256 + 512 * 256 + 256 * 256));
  });

  it('parses a custom config from the command line', () => {
    const c = parseConfig('B8,T50,I32,H48,layers3,bi,relu,nobias');
    expect(c).toMatchObject({ batch: 8, seqLen: 50, rnn: { inputSize: 32, hiddenSize: 48, numLayers: 3, bidirectional: true, batchFirst: false, nonlinearity: 'relu', bias: false } });
    expect(parseConfig('B1 T2 I3 H4').rnn.numLayers).toBe(1);
  });

  it('rejects a bad custom config with RnnError code config', () => {
    for (const text of ['B8,T50,I32', 'B8,T50,I32,H0', 'B8,T50,I32,H4,sideways']) {
      let caught: unknown;
      try {
        parseConfig(text);
      } catch (error) {
        caught = error;
      }
      expect(isRnnError(caught, 'config'), text).toBe(true);
    }
  });

  it('every named config has its committed torch.onnx.export model, and export_onnx.py exports the same sizes', () => {
    const script = readFileSync(new URL('../models/export_onnx.py', import.meta.url), 'utf8');
    for (const c of Object.values(CONFIGS)) {
      expect(readFileSync(new URL(`../models/${onnxModelFile(c)}`, import.meta.url)).length).toBeGreaterThan(100);
      const r = c.rnn;
      expect(script).toContain(
        `"${c.name}": dict(input_size=${r.inputSize}, hidden_size=${r.hiddenSize}, num_layers=${r.numLayers}, bidirectional=${r.bidirectional ? 'True' : 'False'}, batch_first=${r.batchFirst ? 'True' : 'False'})`,
      );
    }
  });
});
