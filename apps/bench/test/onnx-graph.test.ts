import { readFileSync } from 'node:fs';
import { initStateDict, isRnnError } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { CONFIGS, onnxModelFile } from '../src/configs.js';
import { onnxWeightFeeds, readRnnNodes } from '../src/onnx-graph.js';

const model = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../models/${onnxModelFile(CONFIGS[name]!)}`, import.meta.url)));

describe('reading the exported ONNX graph', () => {
  it('finds one RNN node per layer, each reading W, R and B from graph inputs', () => {
    const { inputs, nodes } = readRnnNodes(model('M'));
    expect(nodes).toHaveLength(2);
    for (const node of nodes) for (const name of [node.W, node.R, node.B]) expect(inputs).toContain(name);
    expect(inputs[0]).toBe('input');
  });

  it('stacks our state dict into ONNX RNN weights: directions first, B = [b_ih, b_hh]', () => {
    const config = CONFIGS.tiny!;
    const weights = initStateDict(config.rnn, 3);
    const feeds = onnxWeightFeeds(model('tiny'), config, weights);
    const [layer0, layer1] = readRnnNodes(model('tiny')).nodes;
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
        onnxWeightFeeds(bytes, CONFIGS.M!, initStateDict(CONFIGS.M!.rnn));
      } catch (error) {
        caught.push(error);
      }
    }
    expect(caught.map((e) => isRnnError(e, 'format'))).toEqual([true, true]);
  });
});
