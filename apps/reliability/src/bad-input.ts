import { initStateDict, readSafetensors, seededRandom, writeSafetensors, type Backend, type RnnErrorCode, type StateDict, type Tensor } from '@recurrent/core';
import { createModel, int, pick, randomValidCall, type InitialState, type Random, type ValidCall } from './cases.js';

/** One wrong call and the error code it must end in. */
export interface BadInputCase {
  name: string;
  code: RnnErrorCode;
  act: (backend: Backend) => Promise<unknown>;
}

type Mutation = (random: Random, call: ValidCall) => BadInputCase;

const BAD_SIZES = [0, -1, 1.5, NaN, Infinity, -Infinity, '4', null, 2 ** 53, true, [3]];
const BAD_FLAGS = [1, 0, 'true', null, 'false', {}];

const build = (call: ValidCall, overrides: Partial<Record<string, unknown>> = {}, weights: StateDict = call.weights) =>
  (backend: Backend) => createModel(call.mode, { ...call.config, ...overrides } as ValidCall['config'], weights, backend);

const forward = (call: ValidCall, input: unknown, hx: unknown = call.hx, options: unknown = call.lengths ? { lengths: call.lengths } : undefined) =>
  async (backend: Backend) => {
    const model = await createModel(call.mode, call.config, call.weights, backend);
    try {
      return await model.forward(input as Tensor, hx as InitialState, options as never);
    } finally {
      model.dispose();
    }
  };

const zeros = (shape: number[]): Tensor => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape });

function cloneWeights(weights: StateDict): StateDict {
  return Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, { data: t.data.slice(), shape: [...t.shape] }]));
}

/** Rewrites the JSON header of a safetensors file (keeping the data) to make a damaged file. */
function withHeader(bytes: Uint8Array, edit: (header: Record<string, any>) => void): Uint8Array {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  edit(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + bytes.length - 8 - length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes.subarray(8 + length), 8 + json.length);
  return out;
}

const mutations: Mutation[] = [
  (r, call) => {
    const field = pick(r, ['inputSize', 'hiddenSize', 'numLayers']);
    const value = pick(r, BAD_SIZES);
    return { name: `config.${field} = ${String(value)}`, code: 'config', act: build(call, { [field]: value }) };
  },
  (r, call) => {
    const value = pick(r, ['sigmoid', '', 'TANH', 3, null]);
    return { name: `config.nonlinearity = ${String(value)}`, code: 'config', act: build(call, { nonlinearity: value }) };
  },
  (r, call) => {
    const field = pick(r, ['bias', 'batchFirst', 'bidirectional']);
    const value = pick(r, BAD_FLAGS);
    return { name: `config.${field} = ${JSON.stringify(value)}`, code: 'config', act: build(call, { [field]: value }) };
  },
  (r, call) => {
    const value = pick(r, [-0.1, 1.5, NaN, '0', null]);
    return { name: `config.dropout = ${String(value)}`, code: 'config', act: build(call, { dropout: value }) };
  },
  (r, call) => {
    const key = pick(r, [call.mode === 'lstm' ? 'nonlinearity' : 'projSize', 'hidden_size', 'layers', 'device']);
    return { name: `unknown config option ${key}`, code: 'config', act: build(call, { [key]: 1 }) };
  },
  (r, call) => {
    const config = pick(r, [null, undefined, 7, 'rnn', []]);
    return { name: `config = ${JSON.stringify(config)}`, code: 'config', act: (backend) => createModel(call.mode, config as never, call.weights, backend) };
  },
  (r, call) => {
    const weights = cloneWeights(call.weights);
    const key = pick(r, Object.keys(weights));
    delete weights[key];
    return { name: `state dict without ${key}`, code: 'weights', act: build(call, {}, weights) };
  },
  (r, call) => {
    const weights = cloneWeights(call.weights);
    const key = pick(r, ['weight_ih_l9', 'bias_ih_l0_reverse_x', 'module.weight_ih_l0', call.config.projSize ? 'weight_hr_l9' : 'weight_hr_l0']);
    weights[key] = { data: new Float32Array(1), shape: [1] };
    return { name: `state dict with extra key ${key}`, code: 'weights', act: build(call, {}, weights) };
  },
  (r, call) => {
    const weights = cloneWeights(call.weights);
    const key = pick(r, Object.keys(weights));
    const tensor = weights[key]!;
    const shape = pick(r, [[...tensor.shape, 1], tensor.shape.map((d) => d + 1), [tensor.data.length + 1]]);
    weights[key] = { data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape };
    return { name: `${key} mis-shaped as [${shape}]`, code: 'weights', act: build(call, {}, weights) };
  },
  (r, call) => {
    const weights = cloneWeights(call.weights) as Record<string, unknown>;
    const key = pick(r, Object.keys(weights));
    const tensor = weights[key] as Tensor;
    const kind = pick(r, ['Float64Array', 'Int32Array', 'array', 'short', 'null', 'string']);
    weights[key] = kind === 'null' ? null : kind === 'string' ? 'tensor' : {
      shape: tensor.shape,
      data: kind === 'Float64Array' ? Float64Array.from(tensor.data) : kind === 'Int32Array' ? new Int32Array(tensor.data.length)
        : kind === 'array' ? [...tensor.data] : tensor.data.subarray(0, tensor.data.length - 1),
    };
    return { name: `${key} with ${kind} data`, code: 'weights', act: build(call, {}, weights as StateDict) };
  },
  (r, call) => {
    const file = writeSafetensors(call.weights);
    const damage = pick(r, ['truncate', 'header length', 'garbage byte', 'overlap', 'offsets past end', 'dtype']);
    let bytes: Uint8Array;
    if (damage === 'truncate') bytes = file.subarray(0, int(r, 0, file.length - 1));
    else if (damage === 'header length') {
      bytes = file.slice();
      new DataView(bytes.buffer).setBigUint64(0, BigInt(int(r, file.length, 2 ** 40)), true);
    } else if (damage === 'garbage byte') {
      bytes = file.slice();
      const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      bytes[8 + int(r, 0, length - 1)] = 0x01;
    } else {
      bytes = withHeader(file, (header) => {
        const names = Object.keys(header);
        const first = header[names[0]!];
        const last = header[names[names.length - 1]!];
        if (damage === 'overlap' && names.length > 1) header[names[1]!].data_offsets = [...first.data_offsets];
        else if (damage === 'dtype') first.dtype = pick(r, ['I64', 'U8', 'F8_E4M3', 'float32']);
        else last.data_offsets = [last.data_offsets[0] + 4, last.data_offsets[1] + 4];
      });
    }
    return { name: `.safetensors damaged: ${damage}`, code: 'format', act: async () => readSafetensors(bytes) };
  },
  (r, call) => {
    const { shape } = call.input;
    const bad = pick(r, [[shape[0]!], [1, ...shape], [...shape.slice(0, 2), call.config.inputSize + int(r, 1, 3)], [...shape.slice(0, 2), 0]]);
    return { name: `input of shape [${bad}]`, code: 'shape', act: forward(call, { data: new Float32Array(bad.reduce((a, b) => a * b, 1)), shape: bad }) };
  },
  (r, call) => {
    const delta = pick(r, [-1, 1, 7]);
    const count = Math.max(0, call.input.data.length + delta);
    return { name: `input data of ${count} values for shape [${call.input.shape}]`, code: 'shape', act: forward(call, { data: new Float32Array(count), shape: call.input.shape }) };
  },
  (r, call) => {
    const dim = pick(r, [-2, 1.5, NaN, Infinity, '3']);
    const shape = [...call.input.shape];
    shape[int(r, 0, 2)] = dim as number;
    return { name: `input shape with ${String(dim)}`, code: 'shape', act: forward(call, { data: call.input.data, shape }) };
  },
  (r, call) => {
    const data = pick(r, ['Float64Array', 'array', 'Uint8Array', 'missing']);
    const value = data === 'Float64Array' ? Float64Array.from(call.input.data) : data === 'array' ? [...call.input.data]
      : data === 'Uint8Array' ? new Uint8Array(call.input.data.length) : undefined;
    return { name: `input data as ${data}`, code: 'type', act: forward(call, { data: value, shape: call.input.shape }) };
  },
  (r, call) => {
    const input = pick(r, [null, undefined, 42, 'x', call.input.data]);
    return { name: `input = ${Object.prototype.toString.call(input)}`, code: 'type', act: forward(call, input) };
  },
  (r, call) => {
    const D = call.config.bidirectional ? 2 : 1;
    const N = call.config.batchFirst ? call.input.shape[0]! : call.input.shape[1]!;
    const H = call.config.projSize || call.config.hiddenSize;
    const rows = D * call.config.numLayers!;
    const shape = pick(r, [[rows, H], [rows + 1, N, H], [rows, N + 1, H], [rows, N, H + 1], [1, rows, N, H]]);
    const h0 = zeros(shape);
    const hx = call.mode === 'lstm' ? [h0, zeros([rows, N, call.config.hiddenSize])] : h0;
    return { name: `h0 of shape [${shape}]`, code: 'shape', act: forward(call, call.input, hx) };
  },
  (r, call) => {
    // The module's other kind of initial state: a pair for RNN/GRU, one tensor or a wrong c0 for an LSTM.
    const D = call.config.bidirectional ? 2 : 1;
    const N = call.config.batchFirst ? call.input.shape[0]! : call.input.shape[1]!;
    const rows = D * call.config.numLayers!;
    const H = call.config.hiddenSize;
    const h0 = zeros([rows, N, call.config.projSize || H]);
    if (call.mode !== 'lstm') return { name: `${call.mode}: h0 given as a pair`, code: 'type', act: forward(call, call.input, [h0, h0]) };
    const kind = pick(r, ['h0 alone', 'a 1-tuple', 'c0 of H+1', 'c0 of N+1', 'c0 unbatched']);
    const hx = kind === 'h0 alone' ? h0 : kind === 'a 1-tuple' ? [h0]
      : [h0, zeros(kind === 'c0 of H+1' ? [rows, N, H + 1] : kind === 'c0 of N+1' ? [rows, N + 1, H] : [rows, H])];
    return { name: `lstm: hx ${kind}`, code: kind === 'h0 alone' || kind === 'a 1-tuple' ? 'type' : 'shape', act: forward(call, call.input, hx) };
  },
  (r, call) => {
    // Another module's state dict: gate counts differ (RNN 1, GRU 3, LSTM 4).
    const other = pick(r, (['rnn', 'lstm', 'gru'] as const).filter((m) => m !== call.mode));
    const { projSize: _projSize, nonlinearity: _nonlinearity, ...common } = call.config;
    return { name: `${other} state dict given to ${call.mode}`, code: 'weights', act: build(call, {}, initStateDict(common, 7, other)) };
  },
  (r, call) => {
    if (call.mode !== 'lstm') return { name: `projSize on ${call.mode}`, code: 'config', act: build(call, { projSize: 1 }) };
    const projSize = pick(r, [call.config.hiddenSize, call.config.hiddenSize + 3, -1, 0.5]);
    return { name: `lstm: projSize = ${projSize} (hiddenSize ${call.config.hiddenSize})`, code: 'config', act: build(call, { projSize }) };
  },
  (r, call) => {
    const N = call.config.batchFirst ? call.input.shape[0]! : call.input.shape[1]!;
    const L = call.config.batchFirst ? call.input.shape[1]! : call.input.shape[0]!;
    const lengths: unknown = pick(r, [
      Array(N + 1).fill(1), [], Array(N).fill(0), Array(N).fill(L + 1), Array(N).fill(0.5), Array(N).fill(NaN), Array(N).fill(-1), 'abc', 5,
    ]);
    return { name: `lengths = ${JSON.stringify(lengths)} (N=${N}, L=${L})`, code: 'lengths', act: forward(call, call.input, call.hx, { lengths }) };
  },
  (r, call) => {
    const options = pick(r, [{ length: [1] }, { lengths: [1], extra: true }, 'lengths']);
    return { name: `options = ${JSON.stringify(options)}`, code: 'type', act: forward(call, call.input, call.hx, options) };
  },
  (_r, call) => ({
    name: 'forward after dispose()',
    code: 'disposed',
    act: async (backend) => {
      const model = await createModel(call.mode, call.config, call.weights, backend);
      model.dispose();
      return model.forward(call.input, call.hx);
    },
  }),
];

/** The bad-input case for a seed: a random valid call, then one random thing made wrong. */
export function badInputCase(seed: number): BadInputCase & { call: ValidCall } {
  const call = randomValidCall(seed);
  const random = seededRandom(seed ^ 0x5bd1e995);
  const mutation = mutations[seed % mutations.length]!;
  return { ...mutation(random, call), call };
}

export const MUTATION_COUNT = mutations.length;
