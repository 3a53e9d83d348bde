import { MODULE_NAMES, RnnError, type GruConfig, type LstmConfig, type Mode, type RnnConfig } from '@recurrent/core';

/** The constructor arguments the benchmark varies, for any module (nonlinearity: RNN only; projSize: LSTM only). */
export interface ModuleArgs {
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  nonlinearity: 'tanh' | 'relu';
  bias: boolean;
  projSize: number;
}

/**
 * What is timed: `forward` (one forward over the whole input), `stream` (the input pushed through
 * `model.stream()` one step per push: L pushes; issue 12) or `train` (one forward + backward against a
 * fixed upstream gradient of the output; issue 13).
 */
export type Task = 'forward' | 'stream' | 'train';

/** One benchmark size: an nn.RNN, nn.LSTM or nn.GRU and the input's batch (N) and sequence length (L). */
export interface BenchConfig {
  name: string;
  mode: Mode;
  batch: number;
  seqLen: number;
  module: ModuleArgs;
  /** `forward` when absent. */
  task?: Task;
}

export const taskOf = (c: BenchConfig): Task => c.task ?? 'forward';

const base = { numLayers: 1, bidirectional: false, batchFirst: false, nonlinearity: 'tanh', bias: true, projSize: 0 } as const;
const TINY: ModuleArgs = { ...base, inputSize: 5, hiddenSize: 4, numLayers: 2, bidirectional: true, batchFirst: true };
const M: ModuleArgs = { ...base, inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true };
const L: ModuleArgs = { ...base, inputSize: 512, hiddenSize: 512 };
/** Issue 12's streaming size: one layer, H = 128, I = 64 (N = 1, 1,000 pushes of one step). */
const STREAM: ModuleArgs = { ...base, inputSize: 64, hiddenSize: 128 };
const STREAM_TINY: ModuleArgs = { ...base, inputSize: 5, hiddenSize: 4 };

/**
 * The sizes of issues 7 (RNN: S, M, L) and 11 (LSTM and GRU at M and L, a projected LSTM at M), the
 * streaming rows of issue 12 (`stream-*`) and the training rows of issue 13 (`train-*`: forward +
 * backward at M), plus the `tiny` ones for the tests. export_onnx.py must export the same models.
 */
export const CONFIGS: Record<string, BenchConfig> = {
  tiny: { name: 'tiny', mode: 'rnn', batch: 2, seqLen: 6, module: TINY },
  S: { name: 'S', mode: 'rnn', batch: 1, seqLen: 100, module: { ...base, inputSize: 64, hiddenSize: 64 } },
  M: { name: 'M', mode: 'rnn', batch: 32, seqLen: 128, module: M },
  L: { name: 'L', mode: 'rnn', batch: 64, seqLen: 256, module: L },
  'lstm-tiny': { name: 'lstm-tiny', mode: 'lstm', batch: 2, seqLen: 6, module: TINY },
  'gru-tiny': { name: 'gru-tiny', mode: 'gru', batch: 2, seqLen: 6, module: TINY },
  'lstm-proj-tiny': { name: 'lstm-proj-tiny', mode: 'lstm', batch: 2, seqLen: 6, module: { ...TINY, projSize: 3 } },
  'lstm-M': { name: 'lstm-M', mode: 'lstm', batch: 32, seqLen: 128, module: M },
  'lstm-L': { name: 'lstm-L', mode: 'lstm', batch: 64, seqLen: 256, module: L },
  'gru-M': { name: 'gru-M', mode: 'gru', batch: 32, seqLen: 128, module: M },
  'gru-L': { name: 'gru-L', mode: 'gru', batch: 64, seqLen: 256, module: L },
  'lstm-proj-M': { name: 'lstm-proj-M', mode: 'lstm', batch: 32, seqLen: 128, module: { ...M, projSize: 128 } },
  'stream-lstm': { name: 'stream-lstm', mode: 'lstm', batch: 1, seqLen: 1000, module: STREAM, task: 'stream' },
  'stream-gru': { name: 'stream-gru', mode: 'gru', batch: 1, seqLen: 1000, module: STREAM, task: 'stream' },
  'train-lstm-M': { name: 'train-lstm-M', mode: 'lstm', batch: 32, seqLen: 128, module: M, task: 'train' },
  'train-gru-M': { name: 'train-gru-M', mode: 'gru', batch: 32, seqLen: 128, module: M, task: 'train' },
  'stream-lstm-tiny': { name: 'stream-lstm-tiny', mode: 'lstm', batch: 1, seqLen: 12, module: STREAM_TINY, task: 'stream' },
  'stream-gru-tiny': { name: 'stream-gru-tiny', mode: 'gru', batch: 1, seqLen: 12, module: STREAM_TINY, task: 'stream' },
  'train-lstm-tiny': { name: 'train-lstm-tiny', mode: 'lstm', batch: 2, seqLen: 6, module: TINY, task: 'train' },
  'train-gru-tiny': { name: 'train-gru-tiny', mode: 'gru', batch: 2, seqLen: 6, module: TINY, task: 'train' },
};

/** What `pnpm bench` runs when no --config is given. */
export const DEFAULT_CONFIGS = ['S', 'M', 'L', 'lstm-M', 'lstm-L', 'gru-M', 'gru-L', 'lstm-proj-M', 'stream-lstm', 'stream-gru', 'train-lstm-M', 'train-gru-M'];

/** The config object createRnn / createLstm / createGru accept: only the options that module has. */
export function moduleConfig(c: BenchConfig): RnnConfig | LstmConfig | GruConfig {
  const { nonlinearity, projSize, ...common } = c.module;
  if (c.mode === 'rnn') return { ...common, nonlinearity };
  if (c.mode === 'lstm') return { ...common, projSize };
  return common;
}

/** H_out: the width of each direction's output. */
export const outputWidth = (c: BenchConfig): number => (c.module.projSize > 0 ? c.module.projSize : c.module.hiddenSize);

/**
 * `LSTM B32 T128 I256 H256, 2 layers, bidirectional, batch_first, proj 128`, then what is timed when it
 * is not a forward: `, streamed: 1000 pushes of 1 step` or `: forward + backward`.
 */
export function describeConfig(c: BenchConfig): string {
  const r = c.module;
  const extras = [
    r.numLayers > 1 ? `${r.numLayers} layers` : '',
    r.bidirectional ? 'bidirectional' : '',
    r.batchFirst ? 'batch_first' : '',
    c.mode === 'rnn' && r.nonlinearity === 'relu' ? 'relu' : '',
    r.bias ? '' : 'no bias',
    r.projSize > 0 ? `proj_size ${r.projSize}` : '',
  ].filter(Boolean);
  const task = taskOf(c) === 'stream' ? `, streamed: ${c.seqLen} pushes of 1 step` : taskOf(c) === 'train' ? ': forward + backward' : '';
  return `${MODULE_NAMES[c.mode]} B${c.batch} T${c.seqLen} I${r.inputSize} H${r.hiddenSize}${extras.length ? ', ' + extras.join(', ') : ''}${task}`;
}

/** `LSTM M: …` for a named config, the description alone for a custom one. */
export const configTitle = (c: BenchConfig, description = describeConfig(c)): string => (c.name === description ? description : `${c.name}: ${description}`);

/**
 * Parses a config from the command line: a name (S, M, L, lstm-M, gru-L, lstm-proj-M, stream-lstm,
 * train-gru-M, tiny, …) or tokens like `lstm,B8,T50,I32,H48,layers2,bi,bf,nobias,proj16` (commas or
 * spaces between them; `rnn`, `lstm` or `gru` picks the module, RNN by default; `stream` or `train`
 * times streaming or forward + backward instead of a forward).
 */
export function parseConfig(text: string): BenchConfig {
  const named = CONFIGS[text];
  if (named) return named;
  const tokens = text.split(/[\s,]+/).filter(Boolean);
  const numbers: Record<string, number> = {};
  const module: ModuleArgs = { ...base, inputSize: 0, hiddenSize: 0 };
  let mode: Mode = 'rnn';
  let task: Task = 'forward';
  for (const token of tokens) {
    const match = /^(B|T|I|H|layers|L|proj)=?(\d+)$/i.exec(token);
    if (match) {
      numbers[match[1]!.toLowerCase()] = Number(match[2]);
    } else if (token === 'rnn' || token === 'lstm' || token === 'gru') mode = token;
    else if (token === 'stream' || token === 'train') task = token;
    else if (token === 'bi' || token === 'bidirectional') module.bidirectional = true;
    else if (token === 'bf' || token === 'batch_first') module.batchFirst = true;
    else if (token === 'relu') module.nonlinearity = 'relu';
    else if (token === 'nobias') module.bias = false;
    else throw new RnnError('config', `unknown config token ${JSON.stringify(token)} in ${JSON.stringify(text)}. Expected a name (${Object.keys(CONFIGS).join(', ')}) or tokens like lstm,B8,T50,I32,H48,layers2,bi,bf,nobias,proj16[,stream|,train]`);
  }
  for (const key of ['b', 't', 'i', 'h']) {
    if (!(numbers[key]! >= 1)) throw new RnnError('config', `config ${JSON.stringify(text)} needs ${key.toUpperCase()}<n> ≥ 1 (e.g. B8,T50,I32,H48)`);
  }
  if (mode !== 'rnn' && module.nonlinearity === 'relu') throw new RnnError('config', `config ${JSON.stringify(text)}: relu is an nn.RNN option; ${MODULE_NAMES[mode]} has no nonlinearity`);
  if (numbers.proj !== undefined && (mode !== 'lstm' || !(numbers.proj >= 1 && numbers.proj < numbers.h!))) {
    throw new RnnError('config', `config ${JSON.stringify(text)}: proj<n> needs lstm and 1 ≤ n < H, got proj${numbers.proj} with ${mode} H${numbers.h}`);
  }
  // A stream pushes time-major steps; a bidirectional model cannot stream (its reverse direction needs the whole sequence).
  if (task === 'stream' && (module.bidirectional || module.batchFirst)) throw new RnnError('config', `config ${JSON.stringify(text)}: stream needs a unidirectional, time-major model (no bi, no bf)`);
  module.inputSize = numbers.i!;
  module.hiddenSize = numbers.h!;
  module.numLayers = numbers.layers ?? numbers.l ?? 1;
  module.projSize = numbers.proj ?? 0;
  const c: BenchConfig = { name: '', mode, batch: numbers.b!, seqLen: numbers.t!, module, ...(task === 'forward' ? {} : { task }) };
  c.name = describeConfig(c);
  return c;
}

/**
 * The file stem export_onnx.py writes for a config (batch and sequence length are dynamic); a stream's
 * model (`_state`) takes the initial states as inputs h0 (c0) and returns hN (cN).
 */
export function onnxModelStem(c: BenchConfig): string {
  const r = c.module;
  return `${c.mode}_i${r.inputSize}_h${r.hiddenSize}_l${r.numLayers}_${r.bidirectional ? 'bi' : 'uni'}_${r.batchFirst ? 'bf' : 'tm'}${c.mode === 'rnn' ? `_${r.nonlinearity}` : ''}${r.bias ? '' : '_nobias'}${r.projSize > 0 ? `_p${r.projSize}` : ''}${taskOf(c) === 'stream' ? '_state' : ''}`;
}

/** The ONNX model of a config. */
export const onnxModelFile = (c: BenchConfig): string => `${onnxModelStem(c)}.onnx`;

/** Where export_onnx.py keeps torch.onnx.export's error for a config it could not export. */
export const onnxExportErrorFile = (c: BenchConfig): string => `${onnxModelStem(c)}.export-error.txt`;

/** The command that exports a missing ONNX model, for messages. */
export function onnxExportCommand(c: BenchConfig): string {
  const r = c.module;
  return [
    '/usr/bin/python3 apps/bench/models/export_onnx.py',
    `--mode ${c.mode} --input-size ${r.inputSize} --hidden-size ${r.hiddenSize} --num-layers ${r.numLayers}`,
    r.bidirectional ? '--bidirectional' : '',
    r.batchFirst ? '--batch-first' : '',
    c.mode === 'rnn' && r.nonlinearity === 'relu' ? '--nonlinearity relu' : '',
    r.bias ? '' : '--no-bias',
    r.projSize > 0 ? `--proj-size ${r.projSize}` : '',
    taskOf(c) === 'stream' ? '--state' : '',
  ].filter(Boolean).join(' ');
}
