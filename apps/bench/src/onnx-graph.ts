import { GATES, RnnError, type Mode, type StateDict } from '@recurrent/core';
import type { BenchConfig } from './configs.js';

/**
 * Just enough protobuf to read which graph inputs feed each ONNX `RNN`, `LSTM` or `GRU` node's W, R
 * and B. torch.onnx.export(export_params=False) names those inputs `onnx::LSTM_<n>` (etc.) in an order
 * that depends on the model, so we read the graph instead of guessing. Field numbers are from
 * onnx.proto: ModelProto.graph = 7; GraphProto.node = 1, input = 11; NodeProto.input = 1, op_type = 4,
 * attribute = 5; AttributeProto.name = 1, i = 3; ValueInfoProto.name = 1.
 */
interface Field {
  field: number;
  /** Bytes of a length-delimited field. */
  bytes?: Uint8Array;
  /** Value of a varint field. */
  value?: number;
}

function* readFields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (pos >= buf.length) throw new RnnError('format', 'truncated ONNX protobuf');
      const byte = buf[pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      yield { field, value: varint() };
      continue;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const length = varint();
      yield { field, bytes: buf.subarray(pos, pos + length) };
      pos += length;
      continue;
    } else throw new RnnError('format', `unsupported protobuf wire type ${wire} in ONNX model`);
    yield { field };
  }
}

const text = new TextDecoder();
const strings = (buf: Uint8Array, field: number): string[] =>
  [...readFields(buf)].filter((f) => f.field === field && f.bytes).map((f) => text.decode(f.bytes));

const OP_TYPES: Record<Mode, string> = { rnn: 'RNN', lstm: 'LSTM', gru: 'GRU' };

export interface OnnxRecurrentNode {
  /** Graph-input names of the node's W (D, G·H, I), R (D, G·H, H) and B (D, 2·G·H), or '' when absent. */
  W: string;
  R: string;
  B: string;
  /** The node's integer attributes (GRU: linear_before_reset). */
  attributes: Record<string, number>;
}

/** The RNN, LSTM or GRU nodes of an ONNX model in graph order (= layer order, the graph being topologically sorted). */
export function readRecurrentNodes(model: Uint8Array, mode: Mode = 'rnn'): { inputs: string[]; nodes: OnnxRecurrentNode[] } {
  const graph = [...readFields(model)].find((f) => f.field === 7)?.bytes;
  if (!graph) throw new RnnError('format', 'ONNX model has no graph');
  const inputs: string[] = [];
  const nodes: OnnxRecurrentNode[] = [];
  for (const f of readFields(graph)) {
    if (f.field === 11) inputs.push(strings(f.bytes!, 1)[0] ?? '');
    if (f.field === 1 && strings(f.bytes!, 4)[0] === OP_TYPES[mode]) {
      const [, W = '', R = '', B = ''] = strings(f.bytes!, 1);
      const attributes: Record<string, number> = {};
      for (const a of readFields(f.bytes!)) {
        if (a.field !== 5 || !a.bytes) continue;
        const value = [...readFields(a.bytes)].find((x) => x.field === 3)?.value;
        if (value !== undefined) attributes[strings(a.bytes, 1)[0] ?? ''] = value;
      }
      nodes.push({ W, R, B, attributes });
    }
  }
  return { inputs, nodes };
}

/**
 * ONNX's gate order, as indices into PyTorch's: LSTM i,o,f,c from PyTorch's i,f,g,o; GRU z,r,h from
 * PyTorch's r,z,n; the RNN's single gate stays.
 */
export const ONNX_GATE_ORDER: Record<Mode, number[]> = { rnn: [0], lstm: [0, 3, 1, 2], gru: [1, 0, 2] };

/** The G·H rows (each `width` wide) of a PyTorch parameter, gate blocks put in ONNX's order. */
function onnxGates(data: Float32Array, mode: Mode, H: number, width: number): Float32Array {
  const out = new Float32Array(data.length);
  ONNX_GATE_ORDER[mode].forEach((from, to) => out.set(data.subarray(from * H * width, (from + 1) * H * width), to * H * width));
  return out;
}

/**
 * Our PyTorch state dict as the feeds of an exported model: ONNX stacks directions first and orders
 * the gates its own way: W = [W_ih; W_ih_reverse], R = [W_hh; W_hh_reverse],
 * B = [[b_ih, b_hh]; [b_ih_rev, b_hh_rev]], each gate-reordered. A GRU must have been exported with
 * linear_before_reset = 1, which is PyTorch's r ⊙ (W_hn·h + b_hn); 0 would be a different model.
 */
export function onnxWeightFeeds(model: Uint8Array, config: BenchConfig, weights: StateDict): Record<string, { data: Float32Array; dims: number[] }> {
  const { mode, module: r } = config;
  const { inputs, nodes } = readRecurrentNodes(model, mode);
  const D = r.bidirectional ? 2 : 1;
  const H = r.hiddenSize;
  const G = GATES[mode];
  if (r.projSize > 0) throw new RnnError('unavailable', 'ONNX LSTM has no projection (proj_size)');
  if (nodes.length !== r.numLayers) {
    throw new RnnError('format', `ONNX model has ${nodes.length} ${OP_TYPES[mode]} node(s), expected ${r.numLayers} (one per layer)`);
  }
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = {};
  const stack = (parts: Float32Array[], dims: number[]): { data: Float32Array; dims: number[] } => {
    const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      data.set(p, offset);
      offset += p.length;
    }
    return { data, dims };
  };
  const gates = (name: string, width: number): Float32Array => onnxGates(weights[name]!.data, mode, H, width);
  nodes.forEach((node, layer) => {
    if (mode === 'gru' && node.attributes.linear_before_reset !== 1) {
      throw new RnnError('format', `ONNX GRU node ${layer} has linear_before_reset = ${node.attributes.linear_before_reset ?? 0}: that is not PyTorch's GRU (it needs 1)`);
    }
    const suffixes = D === 2 ? [`_l${layer}`, `_l${layer}_reverse`] : [`_l${layer}`];
    const inputWidth = layer === 0 ? r.inputSize : D * H;
    const wanted: [string, () => { data: Float32Array; dims: number[] }][] = [
      [node.W, () => stack(suffixes.map((s) => gates(`weight_ih${s}`, inputWidth)), [D, G * H, inputWidth])],
      [node.R, () => stack(suffixes.map((s) => gates(`weight_hh${s}`, H)), [D, G * H, H])],
    ];
    if (r.bias) wanted.push([node.B, () => stack(suffixes.flatMap((s) => [gates(`bias_ih${s}`, 1), gates(`bias_hh${s}`, 1)]), [D, 2 * G * H])]);
    for (const [name, make] of wanted) {
      if (!inputs.includes(name)) {
        throw new RnnError('format', `ONNX ${OP_TYPES[mode]} node ${layer} reads ${JSON.stringify(name)}, which is not a graph input: export with export_params=False`);
      }
      feeds[name] = make();
    }
  });
  return feeds;
}
