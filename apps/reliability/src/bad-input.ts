import { initStateDict, readSafetensors, seededRandom, writeSafetensors, type Backend, type RnnErrorCode, type StateDict, type Tensor } from '@recurrent/core';
import { cellWeights, createCell, createModel, int, pick, randomValidCall, type AnyModel, type InitialState, type Random, type ValidCall } from './cases.js';

/** One wrong call and the error code it must end in. */
export interface BadInputCase {
  name: string;
  code: RnnErrorCode;
  act: (backend: Backend) => Promise<unknown>;
  /**
   * The call reaches an optional engine method (backward, loadWeights): an engine without it answers
   * 'unavailable' instead, which is accepted and counted apart.
   */
  mayBeUnavailable?: boolean;
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

/** Builds the call's model, runs `use` on it, disposes it. */
const withModel = (call: ValidCall, use: (model: AnyModel) => Promise<unknown>, config = call.config) => async (backend: Backend) => {
  const model = await createModel(call.mode, config, call.weights, backend);
  try {
    return await use(model);
  } finally {
    model.dispose();
  }
};

const lengthsOf = (call: ValidCall) => (call.lengths ? { lengths: call.lengths } : {});
const abortedSignal = () => {
  const controller = new AbortController();
  controller.abort(new Error('the user typed again'));
  return controller.signal;
};

/** The call's model made unidirectional, so that it can stream; the weights are the first direction's. */
function unidirectional(call: ValidCall): ValidCall {
  const weights = Object.fromEntries(Object.entries(call.weights).filter(([name]) => !name.endsWith('_reverse')));
  const config = { ...call.config, bidirectional: false };
  const D = call.config.bidirectional ? 2 : 1;
  // Layers above the first read D·H_out features: without the reverse direction they read H_out.
  for (const [name, t] of Object.entries(weights)) {
    if (/^weight_ih_l[1-9]/.test(name) && D === 2) {
      const [rows, cols] = t.shape as [number, number];
      const half = cols / 2;
      const data = new Float32Array(rows * half);
      for (let r = 0; r < rows; r++) data.set(t.data.subarray(r * cols, r * cols + half), r * half);
      weights[name] = { data, shape: [rows, half] };
    }
  }
  return { ...call, config, weights, hx: undefined };
}

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
  (r, call) => {
    // Not a signal: a string, an AbortController instead of its signal, a look-alike without listeners.
    const kind = pick(r, ['a string', 'an AbortController', '{ aborted: true }', 'a number', 'true']);
    const signal = kind === 'a string' ? 'stop' : kind === 'an AbortController' ? new AbortController() : kind === '{ aborted: true }' ? { aborted: true } : kind === 'a number' ? 7 : true;
    const where = pick(r, ['forward', 'backward', 'push']);
    const options = { ...lengthsOf(call), signal };
    const act = where === 'forward' ? forward(call, call.input, call.hx, options)
      : where === 'backward' ? withModel(call, (m) => m.backward(call.input, call.hx, {}, options as never))
        : withStream(call, options);
    return { name: `${where}: options.signal is ${kind}`, code: 'type', act };
  },
  (r, call) => {
    const where = pick(r, ['forward', 'backward', 'push']);
    const options = () => ({ ...lengthsOf(call), signal: abortedSignal() });
    return {
      name: `${where} with a signal aborted before the call`,
      code: 'aborted',
      mayBeUnavailable: where === 'backward',
      act: where === 'forward' ? forward(call, call.input, call.hx, options())
        : where === 'backward' ? withModel(call, (m) => m.backward(call.input, call.hx, {}, options()))
          : withStream(call, options()),
    };
  },
  (r, call) => {
    const I = call.config.inputSize, H = call.config.hiddenSize, bias = call.config.bias !== false;
    const weights = cellWeights(call.mode, I, H, bias, 11);
    const cellConfig = { inputSize: I, hiddenSize: H, bias };
    const N = int(r, 1, 3);
    const x = zeros([N, I]);
    const run = (use: (c: Awaited<ReturnType<typeof createCell>>) => Promise<unknown>, config: object = cellConfig, w = weights) => async (backend: Backend) => {
      const c = await createCell(call.mode, config as typeof cellConfig, w, backend);
      try {
        return await use(c);
      } finally {
        c.dispose();
      }
    };
    const kind = pick(r, ['a module option', "a module's parameter names", 'input of the wrong size', 'the other kind of state', 'state of the wrong shape', 'forward after dispose()', '3-D input']);
    const state = (shape: number[]) => (call.mode === 'lstm' ? [zeros(shape), zeros(shape)] : zeros(shape));
    const name = `${call.mode} cell: ${kind}`;
    switch (kind) {
      case 'a module option':
        return { name, code: 'config', act: run(async () => {}, { ...cellConfig, [pick(r, ['numLayers', 'bidirectional', 'batchFirst', 'projSize'])]: 2 }) };
      case "a module's parameter names":
        return { name, code: 'weights', act: run(async () => {}, cellConfig, initStateDict({ inputSize: I, hiddenSize: H, bias }, 11, call.mode)) };
      case 'input of the wrong size':
        return { name, code: 'shape', act: run((c) => c.forward(zeros([N, I + int(r, 1, 3)]))) };
      case 'the other kind of state':
        return { name, code: 'type', act: run((c) => c.forward(x, call.mode === 'lstm' ? zeros([N, H]) : [zeros([N, H]), zeros([N, H])])) };
      case 'state of the wrong shape':
        return { name, code: 'shape', act: run((c) => c.forward(x, state(pick(r, [[N + 1, H], [N, H + 1], [H], [1, N, H]])))) };
      case '3-D input':
        return { name, code: 'shape', act: run((c) => c.forward(zeros([1, N, I]))) };
      default:
        return { name, code: 'disposed', act: async (backend: Backend) => {
          const c = await createCell(call.mode, cellConfig, weights, backend);
          c.dispose();
          return c.forward(x);
        } };
    }
  },
  (r, call) => {
    const kind = pick(r, ['stream() on a bidirectional model', 'push after dispose()', 'the batch changes', 'batched, then unbatched']);
    const uni = unidirectional(call);
    const { shape } = call.input;
    const batchFirst = call.config.batchFirst;
    const N = batchFirst ? shape[0]! : shape[1]!;
    const L = batchFirst ? shape[1]! : shape[0]!;
    const I = call.config.inputSize;
    const chunk = (n: number) => zeros(batchFirst ? [n, L, I] : [L, n, I]);
    if (kind === 'stream() on a bidirectional model') {
      const bidirectional = { ...call.config, bidirectional: true };
      const weights = initStateDict(bidirectional, 5, call.mode);
      return { name: `stream: ${kind}`, code: 'config', act: withModel({ ...call, config: bidirectional, weights }, async (m) => m.stream(), bidirectional) };
    }
    return {
      name: `stream: ${kind}`,
      code: kind === 'push after dispose()' ? 'disposed' : 'shape',
      act: withModel(uni, async (m) => {
        const stream = m.stream();
        await stream.push(chunk(N));
        if (kind === 'push after dispose()') stream.dispose();
        return stream.push(kind === 'the batch changes' ? chunk(N + int(r, 1, 2)) : kind === 'batched, then unbatched' ? zeros([L, I]) : chunk(N));
      }, uni.config),
    };
  },
  (r, call) => {
    const D = call.config.bidirectional ? 2 : 1;
    const rows = D * call.config.numLayers!;
    const { shape } = call.input;
    const N = call.config.batchFirst ? shape[0]! : shape[1]!;
    const L = call.config.batchFirst ? shape[1]! : shape[0]!;
    const Hout = call.config.projSize || call.config.hiddenSize;
    const kind = pick(r, ['output one step short', 'output too wide', 'hN of the wrong batch', 'cN on a module without one', 'an unknown field', 'not an object', 'backward after dispose()']);
    const outputShape = call.config.batchFirst ? [N, L, D * Hout] : [L, N, D * Hout];
    const upstream: unknown = kind === 'output one step short' ? { output: zeros(call.config.batchFirst ? [N, L - 1 || 2, D * Hout] : [L - 1 || 2, N, D * Hout]) }
      : kind === 'output too wide' ? { output: zeros([...outputShape.slice(0, 2), D * Hout + 1]) }
        : kind === 'hN of the wrong batch' ? { hN: zeros([rows, N + 1, Hout]) }
          : kind === 'cN on a module without one' ? (call.mode === 'lstm' ? { cN: zeros([rows, N, Hout + 1 + call.config.hiddenSize]) } : { cN: zeros([rows, N, Hout]) })
            : kind === 'an unknown field' ? { gradOutput: zeros(outputShape) }
              : kind === 'not an object' ? pick(r, [null, 3, 'output', [zeros(outputShape)]])
                : {};
    const code: RnnErrorCode = kind === 'backward after dispose()' ? 'disposed'
      : kind === 'an unknown field' || kind === 'not an object' || (kind === 'cN on a module without one' && call.mode !== 'lstm') ? 'type' : 'shape';
    return {
      name: `backward: ${kind}`,
      code,
      act: kind === 'backward after dispose()'
        ? async (backend: Backend) => {
          const m = await createModel(call.mode, call.config, call.weights, backend);
          m.dispose();
          return m.backward(call.input, call.hx, {});
        }
        : withModel(call, (m) => m.backward(call.input, call.hx, upstream as never, lengthsOf(call))),
    };
  },
  (r, call) => {
    const kind = pick(r, ['a missing key', 'a mis-shaped tensor', "another module's state dict", 'not a state dict', 'after dispose()']);
    const weights = cloneWeights(call.weights) as Record<string, unknown>;
    const key = pick(r, Object.keys(weights));
    if (kind === 'a missing key') delete weights[key];
    if (kind === 'a mis-shaped tensor') weights[key] = zeros([...(weights[key] as Tensor).shape, 2]);
    const { projSize: _p, nonlinearity: _n, ...common } = call.config;
    const next = kind === "another module's state dict" ? initStateDict(common, 3, call.mode === 'gru' ? 'lstm' : 'gru')
      : kind === 'not a state dict' ? pick(r, [null, 'weights.pt', 42, [1, 2]]) : weights;
    return {
      name: `loadStateDict: ${kind}`,
      code: kind === 'after dispose()' ? 'disposed' : 'weights',
      act: async (backend: Backend) => {
        const m = await createModel(call.mode, call.config, call.weights, backend);
        if (kind === 'after dispose()') m.dispose();
        try {
          return await m.loadStateDict(next as StateDict);
        } finally {
          m.dispose();
        }
      },
    };
  },
];

/** A stream of the call's model made unidirectional, one push with `options`. */
function withStream(call: ValidCall, options: object): (backend: Backend) => Promise<unknown> {
  const uni = unidirectional(call);
  return withModel(uni, (m) => m.stream().push(call.input, options as never), uni.config);
}

/** The bad-input case for a seed: a random valid call, then one random thing made wrong. */
export function badInputCase(seed: number): BadInputCase & { call: ValidCall } {
  const call = randomValidCall(seed);
  const random = seededRandom(seed ^ 0x5bd1e995);
  const mutation = mutations[seed % mutations.length]!;
  return { ...mutation(random, call), call };
}

export const MUTATION_COUNT = mutations.length;
