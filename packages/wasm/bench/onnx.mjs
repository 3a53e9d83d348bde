// Builds an ONNX model of an nn.RNN from its state dict, the way torch.onnx.export lays it out: one ONNX
// `RNN` node per layer (W, R, B as initializers), Transpose + Reshape between layers to turn
// (T, D, N, H) into (T, N, D·H), and Transposes around it all for batch_first. Hand-encoded protobuf:
// field numbers are from onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto, TypeProto, TensorShapeProto).

const encoder = new TextEncoder();

function varint(value) {
  const out = [];
  let v = BigInt(value);
  if (v < 0n) v += 1n << 64n; // int64 two's complement
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

const concat = (parts) => {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return bytes;
};
/** A varint field. */
const int = (field, value) => Uint8Array.from([...varint(field * 8), ...varint(value)]);
/** A length-delimited field: bytes, a string or a nested message (an array of fields). */
const bytes = (field, value) => {
  const payload = typeof value === 'string' ? encoder.encode(value) : Array.isArray(value) ? concat(value) : value;
  return concat([Uint8Array.from([...varint(field * 8 + 2), ...varint(payload.length)]), payload]);
};

const FLOAT = 1;
const INT64 = 7;

function tensor(name, dims, type, data) {
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return [...dims.map((d) => int(1, d)), int(2, type), bytes(8, name), bytes(9, raw)];
}

function valueInfo(name, dims) {
  const shape = dims.map((d) => bytes(1, typeof d === 'number' ? [int(1, d)] : [bytes(2, d)]));
  return [bytes(1, name), bytes(2, [bytes(1, [int(1, FLOAT), bytes(2, shape)])])];
}

function node(opType, inputs, outputs, attributes = []) {
  return [...inputs.map((i) => bytes(1, i)), ...outputs.map((o) => bytes(2, o)), bytes(4, opType), ...attributes.map((a) => bytes(5, a))];
}

const intAttribute = (name, value) => [bytes(1, name), int(3, value), int(20, 2)];
const stringAttribute = (name, value) => [bytes(1, name), bytes(4, value), int(20, 3)];
const intsAttribute = (name, values) => [bytes(1, name), ...values.map((v) => int(8, v)), int(20, 7)];

/**
 * The ONNX model of nn.RNN(config) with these weights. Input `input` in the layout the config says
 * (batch_first or not), output `output` likewise; shapes are symbolic in N and L.
 */
export function buildOnnxRnn(config, weights) {
  const { inputSize: I, hiddenSize: H, numLayers = 1, bidirectional = false, batchFirst = false, nonlinearity = 'tanh', bias = true } = config;
  const D = bidirectional ? 2 : 1;
  const nodes = [];
  const initializers = [];
  let x = 'input';
  if (batchFirst) {
    nodes.push(node('Transpose', [x], ['input_tm'], [intsAttribute('perm', [1, 0, 2])]));
    x = 'input_tm';
  }
  initializers.push(tensor('flatten_shape', [3], INT64, BigInt64Array.from([0n, 0n, -1n])));
  for (let layer = 0; layer < numLayers; layer++) {
    const inputWidth = layer === 0 ? I : D * H;
    const W = new Float32Array(D * H * inputWidth);
    const R = new Float32Array(D * H * H);
    const B = new Float32Array(D * 2 * H);
    for (let d = 0; d < D; d++) {
      const suffix = `_l${layer}${d === 1 ? '_reverse' : ''}`;
      W.set(weights[`weight_ih${suffix}`].data, d * H * inputWidth);
      R.set(weights[`weight_hh${suffix}`].data, d * H * H);
      if (bias) {
        B.set(weights[`bias_ih${suffix}`].data, d * 2 * H);
        B.set(weights[`bias_hh${suffix}`].data, d * 2 * H + H);
      }
    }
    initializers.push(tensor(`W${layer}`, [D, H, inputWidth], FLOAT, W), tensor(`R${layer}`, [D, H, H], FLOAT, R), tensor(`B${layer}`, [D, 2 * H], FLOAT, B));
    const activation = nonlinearity === 'tanh' ? 'Tanh' : 'Relu';
    nodes.push(node('RNN', [x, `W${layer}`, `R${layer}`, `B${layer}`], [`Y${layer}`, `Y_h${layer}`], [
      intAttribute('hidden_size', H),
      stringAttribute('direction', bidirectional ? 'bidirectional' : 'forward'),
      [bytes(1, 'activations'), ...Array.from({ length: D }, () => bytes(9, activation)), int(20, 8)],
    ]));
    // (T, D, N, H) → (T, N, D, H) → (T, N, D·H)
    nodes.push(node('Transpose', [`Y${layer}`], [`Yt${layer}`], [intsAttribute('perm', [0, 2, 1, 3])]));
    const flat = layer === numLayers - 1 && !batchFirst ? 'output' : `X${layer + 1}`;
    nodes.push(node('Reshape', [`Yt${layer}`, 'flatten_shape'], [flat]));
    x = flat;
  }
  if (batchFirst) nodes.push(node('Transpose', [x], ['output'], [intsAttribute('perm', [1, 0, 2])]));
  const graph = [
    ...nodes.map((n) => bytes(1, n)),
    bytes(2, 'rnn'),
    ...initializers.map((t) => bytes(5, t)),
    bytes(11, valueInfo('input', batchFirst ? ['N', 'L', I] : ['L', 'N', I])),
    bytes(12, valueInfo('output', batchFirst ? ['N', 'L', D * H] : ['L', 'N', D * H])),
  ];
  return concat([int(1, 8), bytes(2, 'recurrent-bench'), bytes(7, graph), bytes(8, [bytes(1, ''), int(2, 14)])]);
}
