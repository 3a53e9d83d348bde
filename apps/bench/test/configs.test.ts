import { readFileSync } from 'node:fs';
import { forwardFlops, isRnnError } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { CONFIGS, DEFAULT_CONFIGS, describeConfig, moduleConfig, onnxExportCommand, onnxExportErrorFile, onnxModelFile, parseConfig, taskOf } from '../src/configs.js';
import { makeWorkload } from '../src/runner.js';

describe('configs', () => {
  it('S, M and L are the sizes of issue 7, LSTM and GRU at M and L those of issue 11', () => {
    expect(describeConfig(CONFIGS.S!)).toBe('RNN B1 T100 I64 H64');
    expect(describeConfig(CONFIGS.M!)).toBe('RNN B32 T128 I256 H256, 2 layers, bidirectional, batch_first');
    expect(describeConfig(CONFIGS.L!)).toBe('RNN B64 T256 I512 H512');
    expect(describeConfig(CONFIGS['lstm-M']!)).toBe('LSTM B32 T128 I256 H256, 2 layers, bidirectional, batch_first');
    expect(describeConfig(CONFIGS['gru-L']!)).toBe('GRU B64 T256 I512 H512');
    expect(describeConfig(CONFIGS['lstm-proj-M']!)).toBe('LSTM B32 T128 I256 H256, 2 layers, bidirectional, batch_first, proj_size 128');
    for (const name of ['lstm-M', 'lstm-L', 'gru-M', 'gru-L', 'lstm-proj-M']) expect(DEFAULT_CONFIGS).toContain(name);
  });

  it('streams a 1-layer LSTM and GRU, H 128, I 64, N 1, 1000 pushes (issue 12), and trains LSTM and GRU at M (issue 13)', () => {
    expect(describeConfig(CONFIGS['stream-lstm']!)).toBe('LSTM B1 T1000 I64 H128, streamed: 1000 pushes of 1 step');
    expect(describeConfig(CONFIGS['stream-gru']!)).toBe('GRU B1 T1000 I64 H128, streamed: 1000 pushes of 1 step');
    expect(describeConfig(CONFIGS['train-lstm-M']!)).toBe('LSTM B32 T128 I256 H256, 2 layers, bidirectional, batch_first: forward + backward');
    expect(describeConfig(CONFIGS['train-gru-M']!)).toBe('GRU B32 T128 I256 H256, 2 layers, bidirectional, batch_first: forward + backward');
    for (const name of ['stream-lstm', 'stream-gru', 'train-lstm-M', 'train-gru-M']) expect(DEFAULT_CONFIGS).toContain(name);
    expect(taskOf(CONFIGS.M!)).toBe('forward');
  });

  it('gives a training workload an upstream gradient shaped like the output, and counts its FLOPs as 3 forwards', () => {
    const forward = makeWorkload(CONFIGS['lstm-tiny']!);
    const train = makeWorkload(CONFIGS['train-lstm-tiny']!);
    expect(forward.upstream).toBeUndefined();
    expect(train.upstream!.shape).toEqual([2, 6, 2 * 4]);
    expect(train.flops).toBe(3 * forward.flops);
    expect(train.input.data).toEqual(forward.input.data);
    expect(makeWorkload(CONFIGS['stream-gru']!).input.shape).toEqual([1000, 1, 64]);
  });

  it('counts FLOPs as 2·B·T·D·Σ G·H·(I_l + H_out), plus the projection', () => {
    const flops = (name: string): number => forwardFlops(moduleConfig(CONFIGS[name]!), CONFIGS[name]!.batch, CONFIGS[name]!.seqLen, CONFIGS[name]!.mode);
    const M = 2 * 32 * 128 * 2;
    expect(flops('M')).toBe(M * (256 * (256 + 256) + 256 * (512 + 256)));
    expect(flops('lstm-M')).toBe(M * 4 * (256 * (256 + 256) + 256 * (512 + 256)));
    expect(flops('gru-L')).toBe(2 * 64 * 256 * 3 * 512 * (512 + 512));
    // proj 128: H_out = 128, layer 1 reads 2·128; W_hr adds P·H per layer and direction.
    expect(flops('lstm-proj-M')).toBe(M * (4 * 256 * (256 + 128) + 128 * 256 + 4 * 256 * (256 + 128) + 128 * 256));
  });

  it('gives each module only the options it has', () => {
    expect(moduleConfig(CONFIGS.M!)).toMatchObject({ nonlinearity: 'tanh' });
    expect(moduleConfig(CONFIGS['lstm-proj-M']!)).toMatchObject({ projSize: 128 });
    expect(moduleConfig(CONFIGS['lstm-M']!)).not.toHaveProperty('nonlinearity');
    expect(moduleConfig(CONFIGS['gru-M']!)).not.toHaveProperty('projSize');
    expect(moduleConfig(CONFIGS['gru-M']!)).not.toHaveProperty('nonlinearity');
  });

  it('parses a custom config from the command line', () => {
    const c = parseConfig('B8,T50,I32,H48,layers3,bi,relu,nobias');
    expect(c).toMatchObject({ mode: 'rnn', batch: 8, seqLen: 50, module: { inputSize: 32, hiddenSize: 48, numLayers: 3, bidirectional: true, batchFirst: false, nonlinearity: 'relu', bias: false } });
    expect(parseConfig('B1 T2 I3 H4').module.numLayers).toBe(1);
    expect(parseConfig('lstm,B1,T2,I3,H4,proj2')).toMatchObject({ mode: 'lstm', module: { projSize: 2 } });
    expect(parseConfig('gru B1 T2 I3 H4').mode).toBe('gru');
    expect(parseConfig('lstm,B1,T50,I8,H16,stream')).toMatchObject({ mode: 'lstm', task: 'stream', name: 'LSTM B1 T50 I8 H16, streamed: 50 pushes of 1 step' });
    expect(parseConfig('gru,B2,T5,I3,H4,bi,train').task).toBe('train');
    expect(onnxExportCommand(parseConfig('gru,B1,T5,I3,H4,stream'))).toContain('--state');
  });

  it('rejects a bad custom config with RnnError code config', () => {
    for (const text of ['B8,T50,I32', 'B8,T50,I32,H0', 'B8,T50,I32,H4,sideways', 'gru,B1,T2,I3,H4,relu', 'gru,B1,T2,I3,H4,proj2', 'lstm,B1,T2,I3,H4,proj4', 'lstm,B1,T2,I3,H4,bi,stream', 'gru,B1,T2,I3,H4,bf,stream']) {
      let caught: unknown;
      try {
        parseConfig(text);
      } catch (error) {
        caught = error;
      }
      expect(isRnnError(caught, 'config'), text).toBe(true);
    }
  });

  it('every named config has its committed torch.onnx.export model (or the exporter\'s error), and export_onnx.py exports the same sizes', () => {
    const script = readFileSync(new URL('../models/export_onnx.py', import.meta.url), 'utf8');
    const py = (b: boolean): string => (b ? 'True' : 'False');
    // Training rows have no ONNX model (ONNX Runtime does not train).
    for (const c of Object.values(CONFIGS).filter((c) => taskOf(c) !== 'train')) {
      const r = c.module;
      if (taskOf(c) === 'stream') {
        expect(onnxModelFile(c)).toMatch(/_state\.onnx$/);
        expect(readFileSync(new URL(`../models/${onnxModelFile(c)}`, import.meta.url)).length).toBeGreaterThan(100);
        const sizes = c.name.endsWith('-tiny') ? 'STREAM_TINY' : 'STREAM';
        expect(script).toContain(`${sizes} = dict(input_size=${r.inputSize}, hidden_size=${r.hiddenSize}, num_layers=${r.numLayers}, bidirectional=${py(r.bidirectional)}, batch_first=${py(r.batchFirst)})`);
        expect(script).toContain(`"${c.name}": dict(mode="${c.mode}", state=True, **${sizes})`);
        continue;
      }
      if (r.projSize > 0) {
        expect(readFileSync(new URL(`../models/${onnxExportErrorFile(c)}`, import.meta.url), 'utf8')).toMatch(/^torch\.onnx\.export .* failed: .*LSTMs with projections/);
      } else {
        expect(readFileSync(new URL(`../models/${onnxModelFile(c)}`, import.meta.url)).length).toBeGreaterThan(100);
      }
      const sizes = /^(?:lstm-proj-|lstm-|gru-)?(.*)$/.exec(c.name)![1]!.toUpperCase();
      expect(script).toContain(`${sizes} = dict(input_size=${r.inputSize}, hidden_size=${r.hiddenSize}, num_layers=${r.numLayers}, bidirectional=${py(r.bidirectional)}, batch_first=${py(r.batchFirst)})`);
      expect(script).toContain(`"${c.name}": dict(mode="${c.mode}", ${r.projSize > 0 ? `proj_size=${r.projSize}, ` : ''}**${sizes})`);
    }
  });
});
