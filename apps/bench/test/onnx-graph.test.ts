import { readFileSync } from 'node:fs';
import { initStateDict, isRnnError } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { CONFIGS, onnxModelFile } from '../src/configs.js';
import { moduleConfig } from '../src/configs.js';
import { onnxWeightFeeds, readRecurrentNodes } from '../src/onnx-graph.js';

const model = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../models/${onnxModelFile(CONFIGS[name]!)}`, import.meta.url)));

describe('reading the exported ONNX graph', () => {
  it('finds one RNN node per layer, each reading W, R and B from graph inputs', () => {
    const { inputs, nodes } = readRecurrentNodes(model('M'));
    expect(nodes).toHaveLength(2);
    for (const node of nodes) for (const name of [node.W, node.R, node.B]) expect(inputs).toContain(name);
    expect(inputs[0]).toBe('input');
  });

  it('stacks our state dict into ONNX RNN weights: directions first, B = [b_ih, b_hh]', () => {
    const config = CONFIGS.tiny!;
    const weights = initStateDict(moduleConfig(config), 3);
    const feeds = onnxWeightFeeds(model('tiny'), config, weights);
    const [layer0, layer1] = readRecurrentNodes(model('tiny')).nodes;
    expect(feeds[layer0!.W]!.dims).toEqual([2, 4, 5]);
    expect(feeds[layer1!.W]!.dims).toEqual([2, 4, 8]);
    expect(feeds[layer1!.R]!.dims).toEqual([2, 4, 4]);
    const B = feeds[layer1!.B]!;
    expect(B.dims).toEqual([2, 8]);
    expect(Array.from(B.data.subarray(8, 12))).toEqual(Array.from(weights.bias_ih_l1_reverse!.data));
    expect(Array.from(B.data.subarray(12, 16))).toEqual(Array.from(weights.bias_hh_l1_reverse!.data));
    expect(Array.from(feeds[layer0!.R]!.data.subarray(16))).toEqual(Array.from(weights.weight_hh_l0_reverse!.data));
  });

  it('tells a model that does not fit the config, or is not protobuf, with RnnError code format', () => {
    const caught: unknown[] = [];
    for (const bytes of [model('S'), new Uint8Array([0x3a, 0x7f, 1])]) {
      try {
        onnxWeightFeeds(bytes, CONFIGS.M!, initStateDict(moduleConfig(CONFIGS.M!)));
      } catch (error) {
        caught.push(error);
      }
    }
    expect(caught.map((e) => isRnnError(e, 'format'))).toEqual([true, true]);
  });

  it('puts LSTM gates in ONNX order i, o, f, c (PyTorch: i, f, g, o), biases included', () => {
    const config = CONFIGS['lstm-tiny']!;
    const weights = initStateDict(moduleConfig(config), 5, 'lstm');
    const { nodes } = readRecurrentNodes(model('lstm-tiny'), 'lstm');
    expect(nodes).toHaveLength(2);
    const feeds = onnxWeightFeeds(model('lstm-tiny'), config, weights);
    const H = 4;
    const W = feeds[nodes[0]!.W]!;
    expect(W.dims).toEqual([2, 4 * H, 5]);
    const rows = (data: Float32Array, from: number, to: number, width: number): number[] => Array.from(data.subarray(from * H * width, to * H * width));
    const W_ih = weights.weight_ih_l0!.data;
    expect(rows(W.data, 0, 1, 5)).toEqual(rows(W_ih, 0, 1, 5)); // i
    expect(rows(W.data, 1, 2, 5)).toEqual(rows(W_ih, 3, 4, 5)); // o
    expect(rows(W.data, 2, 3, 5)).toEqual(rows(W_ih, 1, 2, 5)); // f
    expect(rows(W.data, 3, 4, 5)).toEqual(rows(W_ih, 2, 3, 5)); // c (PyTorch's g)
    // B for the reverse direction of layer 1: [Wb, Rb], each reordered; its Rb's o block is b_hh's.
    const B = feeds[nodes[1]!.B]!;
    expect(B.dims).toEqual([2, 8 * H]);
    const reverse = B.data.subarray(8 * H);
    expect(Array.from(reverse.subarray(4 * H + H, 4 * H + 2 * H))).toEqual(Array.from(weights.bias_hh_l1_reverse!.data.subarray(3 * H, 4 * H)));
  });

  it('puts GRU gates in ONNX order z, r, h and refuses a GRU without linear_before_reset', () => {
    const config = CONFIGS['gru-tiny']!;
    const weights = initStateDict(moduleConfig(config), 5, 'gru');
    const { nodes } = readRecurrentNodes(model('gru-tiny'), 'gru');
    expect(nodes.map((n) => n.attributes.linear_before_reset)).toEqual([1, 1]);
    const feeds = onnxWeightFeeds(model('gru-tiny'), config, weights);
    const R = feeds[nodes[0]!.R]!;
    expect(R.dims).toEqual([2, 12, 4]);
    expect(Array.from(R.data.subarray(0, 16))).toEqual(Array.from(weights.weight_hh_l0!.data.subarray(16, 32))); // z first
    expect(Array.from(R.data.subarray(16, 32))).toEqual(Array.from(weights.weight_hh_l0!.data.subarray(0, 16))); // then r
  });
});
