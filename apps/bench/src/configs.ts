import { RnnError, type RnnConfig } from '@recurrent/core';

/** One benchmark size: an nn.RNN config plus the input's batch (N) and sequence length (L). */
export interface BenchConfig {
  name: string;
  batch: number;
  seqLen: number;
  rnn: Required<Pick<RnnConfig, 'inputSize' | 'hiddenSize' | 'numLayers' | 'bidirectional' | 'batchFirst' | 'nonlinearity' | 'bias'>>;
}

const base = { numLayers: 1, bidirectional: false, batchFirst: false, nonlinearity: 'tanh', bias: true } as const;

/** The sizes of issue 7, plus `tiny` for the smoke test. export_onnx.py must export the same models. */
export const CONFIGS: Record<string, BenchConfig> = {
  tiny: { name: 'tiny', batch: 2, seqLen: 6, rnn: { ...base, inputSize: 5, hiddenSize: 4, numLayers: 2, bidirectional: true, batchFirst: true } },
  S: { name: 'S', batch: 1, seqLen: 100, rnn: { ...base, inputSize: 64, hiddenSize: 64 } },
  M: { name: 'M', batch: 32, seqLen: 128, rnn: { ...base, inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true } },
  L: { name: 'L', batch: 64, seqLen: 256, rnn: { ...base, inputSize: 512, hiddenSize: 512 } },
};

/** `B1 T100 I64 H64`, plus S/M/L's wording for the rest: `2 layers, bidirectional, batch_first`. */
export function describeConfig(c: BenchConfig): string {
  const r = c.rnn;
  const extras = [
    r.numLayers > 1 ? `${r.numLayers} layers` : '',
    r.bidirectional ? 'bidirectional' : '',
    r.batchFirst ? 'batch_first' : '',
    r.nonlinearity === 'relu' ? 'relu' : '',
    r.bias ? '' : 'no bias',
  ].filter(Boolean);
  return `B${c.batch} T${c.seqLen} I${r.inputSize} H${r.hiddenSize}${extras.length ? ', ' + extras.join(', ') : ''}`;
}

/**
 * Parses a config from the command line: a name (S, M, L, tiny) or tokens like
 * `B8,T50,I32,H48,layers2,bi,bf,relu,nobias` (commas or spaces between them).
 */
export function parseConfig(text: string): BenchConfig {
  const named = CONFIGS[text];
  if (named) return named;
  const tokens = text.split(/[\s,]+/).filter(Boolean);
  const numbers: Record<string, number> = {};
  const rnn: BenchConfig['rnn'] = { ...base, inputSize: 0, hiddenSize: 0 };
  for (const token of tokens) {
    const match = /^(B|T|I|H|layers|L)=?(\d+)$/i.exec(token);
    if (match) {
      numbers[match[1]!.toLowerCase()] = Number(match[2]);
    } else if (token === 'bi' || token === 'bidirectional') rnn.bidirectional = true;
    else if (token === 'bf' || token === 'batch_first') rnn.batchFirst = true;
    else if (token === 'relu') rnn.nonlinearity = 'relu';
    else if (token === 'nobias') rnn.bias = false;
    else throw new RnnError('config', `unknown config token ${JSON.stringify(token)} in ${JSON.stringify(text)}. Expected S, M, L, tiny or tokens like B8,T50,I32,H48,layers2,bi,bf,relu,nobias`);
  }
  for (const key of ['b', 't', 'i', 'h']) {
    if (!(numbers[key]! >= 1)) throw new RnnError('config', `config ${JSON.stringify(text)} needs ${key.toUpperCase()}<n> ≥ 1 (e.g. B8,T50,I32,H48)`);
  }
  rnn.inputSize = numbers.i!;
  rnn.hiddenSize = numbers.h!;
  rnn.numLayers = numbers.layers ?? numbers.l ?? 1;
  const c: BenchConfig = { name: '', batch: numbers.b!, seqLen: numbers.t!, rnn };
  c.name = describeConfig(c);
  return c;
}

/** The ONNX file export_onnx.py writes for a config (batch and sequence length are dynamic). */
export function onnxModelFile(c: BenchConfig): string {
  const r = c.rnn;
  return `rnn_i${r.inputSize}_h${r.hiddenSize}_l${r.numLayers}_${r.bidirectional ? 'bi' : 'uni'}_${r.batchFirst ? 'bf' : 'tm'}_${r.nonlinearity}${r.bias ? '' : '_nobias'}.onnx`;
}

/** The command that exports a missing ONNX model, for messages. */
export function onnxExportCommand(c: BenchConfig): string {
  const r = c.rnn;
  return [
    '/usr/bin/python3 apps/bench/models/export_onnx.py',
    `--input-size ${r.inputSize} --hidden-size ${r.hiddenSize} --num-layers ${r.numLayers}`,
    r.bidirectional ? '--bidirectional' : '',
    r.batchFirst ? '--batch-first' : '',
    r.nonlinearity === 'relu' ? '--nonlinearity relu' : '',
    r.bias ? '' : '--no-bias',
  ].filter(Boolean).join(' ');
}
