import {
  createGru, createGruCell, createLstm, createLstmCell, createRnn, createRnnCell, initStateDict, randomTensorData, seededRandom,
  type Backend, type ForwardOptions, type Gradients, type GruConfig, type LstmConfig, type Mode, type RnnConfig, type StateDict, type Tensor,
} from '@recurrent/core';

export type Random = ReturnType<typeof seededRandom>;

export const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
export const int = (random: Random, lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));

export type AnyConfig = RnnConfig & LstmConfig & GruConfig;
/** h0 for RNN and GRU, [h0, c0] for LSTM. */
export type InitialState = Tensor | [Tensor, Tensor];

/** A small valid call: module, config, weights, input, initial states, lengths, all consistent. */
export interface ValidCall {
  mode: Mode;
  config: AnyConfig;
  weights: StateDict;
  input: Tensor;
  hx?: InitialState;
  lengths?: number[];
}

/** Any module behind one face, so every check runs on RNN, LSTM and GRU alike. */
export interface AnyModel {
  /** Which engine (and variant) runs it. */
  readonly backend: string;
  forward(input: Tensor, hx?: InitialState, options?: ForwardOptions): Promise<{ output: Tensor; hN: Tensor; cN?: Tensor }>;
  stream(hx?: InitialState): { push(chunk: Tensor, options?: ForwardOptions): Promise<{ output: Tensor; hN: Tensor; cN?: Tensor }>; dispose(): void };
  backward(input: Tensor, hx: InitialState | undefined, upstream: { output?: Tensor; hN?: Tensor; cN?: Tensor }, options?: ForwardOptions): Promise<Gradients>;
  stateDict(): StateDict;
  loadStateDict(weights: StateDict): Promise<void>;
  dispose(): void;
}

/** Any cell behind one face: hx is h, or [h, c] for an LSTMCell; the result likewise. */
export interface AnyCell {
  readonly backend: string;
  forward(input: Tensor, hx?: unknown): Promise<Tensor | [Tensor, Tensor]>;
  dispose(): void;
}

/** createRnnCell, createLstmCell or createGruCell, as the mode says. */
export function createCell(mode: Mode, config: { inputSize: number; hiddenSize: number; bias?: boolean }, weights: StateDict, backend: Backend): Promise<AnyCell> {
  const create = { rnn: createRnnCell, lstm: createLstmCell, gru: createGruCell }[mode] as (c: object, w: StateDict, b: Backend) => Promise<AnyCell>;
  return create(config, weights, backend);
}

/** A cell's state dict (weight_ih, weight_hh, bias_ih, bias_hh): a one-layer module's, without the _l0. */
export function cellWeights(mode: Mode, inputSize: number, hiddenSize: number, bias: boolean, seed: number): StateDict {
  const layer = initStateDict({ inputSize, hiddenSize, bias }, seed, mode);
  return Object.fromEntries(Object.entries(layer).map(([name, t]) => [name.replace(/_l0$/, ''), t]));
}

/** createRnn, createLstm or createGru, as the mode says. */
export function createModel(mode: Mode, config: AnyConfig, weights: StateDict, backend: Backend): Promise<AnyModel> {
  const create = { rnn: createRnn, lstm: createLstm, gru: createGru }[mode] as (c: AnyConfig, w: StateDict, b: Backend) => Promise<AnyModel>;
  return create(config, weights, backend);
}

export const forwardCall = (model: AnyModel, call: ValidCall): Promise<AnyResult> =>
  model.forward(call.input, call.hx, call.lengths ? { lengths: call.lengths } : undefined);

/** Seeds cycle through the modules: seed % 3 picks RNN, LSTM or GRU. */
export function randomValidCall(seed: number): ValidCall {
  const random = seededRandom(seed);
  const mode = (['rnn', 'lstm', 'gru'] as const)[seed % 3]!;
  const hiddenSize = int(random, 1, 8);
  const config: AnyConfig = {
    inputSize: int(random, 1, 6),
    hiddenSize,
    numLayers: int(random, 1, 3),
    ...(mode === 'rnn' ? { nonlinearity: pick(random, ['tanh', 'relu'] as const) } : {}),
    ...(mode === 'lstm' && hiddenSize > 1 && random() < 0.5 ? { projSize: int(random, 1, hiddenSize - 1) } : {}),
    bias: random() < 0.7,
    batchFirst: random() < 0.5,
    bidirectional: random() < 0.5,
  };
  const D = config.bidirectional ? 2 : 1;
  const L = int(random, 1, 6);
  const N = int(random, 1, 4);
  const I = config.inputSize;
  const Hout = config.projSize || hiddenSize;
  const stateRows = D * config.numLayers!;
  const state = (width: number, seedOffset: number): Tensor => ({ data: randomTensorData(stateRows * N * width, seed + seedOffset), shape: [stateRows, N, width] });
  const withStates = random() < 0.5;
  return {
    mode,
    config,
    weights: initStateDict(config, seed, mode),
    input: { data: randomTensorData(L * N * I, seed + 1), shape: config.batchFirst ? [N, L, I] : [L, N, I] },
    hx: !withStates ? undefined : mode === 'lstm' ? [state(Hout, 2), state(hiddenSize, 3)] : state(hiddenSize, 2),
    lengths: random() < 0.5 ? Array.from({ length: N }, () => int(random, 1, L)) : undefined,
  };
}

type AnyResult = { output: Tensor; hN: Tensor; cN?: Tensor };

/** Bit-identical results (NaN equal to NaN), c_n included. */
export function sameResult(a: AnyResult, b: AnyResult): boolean {
  const equal = (x?: Float32Array, y?: Float32Array) => x === y || (x !== undefined && y !== undefined && x.length === y.length && x.every((v, i) => Object.is(v, y[i])));
  return equal(a.output.data, b.output.data) && equal(a.hN.data, b.hN.data) && equal(a.cN?.data, b.cN?.data);
}
