import { RnnError, type StateDict } from '@recurrent/core';
import type { BenchConfig } from './configs.js';

/**
 * Just enough protobuf to read which graph inputs feed each ONNX `RNN` node's W, R and B.
 * torch.onnx.export(export_params=False) names those inputs `onnx::RNN_<n>` in an order that depends
 * on the model, so we read the graph instead of guessing. Field numbers are from onnx.proto:
 * ModelProto.graph = 7; GraphProto.node = 1, input = 11; NodeProto.input = 1, op_type = 4;
 * ValueInfoProto.name = 1.
 */
interface Field {
  field: number;
  /** Bytes of a length-delimited field. */
  bytes?: Uint8Array;
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
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
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

export interface OnnxRnnNode {
  /** Graph-input names of the node's W (D, H, I), R (D, H, H) and B (D, 2H) or '' when absent. */
  W: string;
  R: string;
  B: string;
}

/** The RNN nodes of an ONNX model in graph order (= layer order, the graph being topologically sorted). */
export function readRnnNodes(model: Uint8Array): { inputs: string[]; nodes: OnnxRnnNode[] } {
  const graph = [...readFields(model)].find((f) => f.field === 7)?.bytes;
  if (!graph) throw new RnnError('format', 'ONNX model has no graph');
  const inputs: string[] = [];
  const nodes: OnnxRnnNode[] = [];
  for (const f of readFields(graph)) {
    if (f.field === 11) inputs.push(strings(f.bytes!, 1)[0] ?? '');
    if (f.field === 1 && strings(f.bytes!, 4)[0] === 'RNN') {
      const [, W = '', R = '', B = ''] = strings(f.bytes!, 1);
      nodes.push({ W, R, B });
    }
  }
  return { inputs, nodes };
}

/**
 * Our PyTorch state dict as the feeds of an exported model: ONNX RNN stacks directions first,
 * W = [W_ih; W_ih_reverse], R = [W_hh; W_hh_reverse], B = [[b_ih, b_hh]; [b_ih_rev, b_hh_rev]].
 */
export function onnxWeightFeeds(model: Uint8Array, config: BenchConfig, weights: StateDict): Record<string, { data: Float32Array; dims: number[] }> {
  const { inputs, nodes } = readRnnNodes(model);
  const r = config.rnn;
  const D = r.bidirectional ? 2 : 1;
  const H = r.hiddenSize;
  if (nodes.length !== r.numLayers) {
    throw new RnnError('format', `ONNX model has ${nodes.length} RNN node(s), expected ${r.numLayers} (one per layer)`);
  }
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = {};
  const stack = (names: string[], dims: number[]): { data: Float32Array; dims: number[] } => {
    const parts = names.map((name) => weights[name]!.data);
    const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      data.set(p, offset);
      offset += p.length;
    }
    return { data, dims };
  };
  nodes.forEach((node, layer) => {
    const suffixes = D === 2 ? [`_l${layer}`, `_l${layer}_reverse`] : [`_l${layer}`];
    const inputWidth = layer === 0 ? r.inputSize : D * H;
    const wanted: [string, () => { data: Float32Array; dims: number[] }][] = [
      [node.W, () => stack(suffixes.map((s) => `weight_ih${s}`), [D, H, inputWidth])],
      [node.R, () => stack(suffixes.map((s) => `weight_hh${s}`), [D, H, H])],
    ];
    if (r.bias) wanted.push([node.B, () => stack(suffixes.flatMap((s) => [`bias_ih${s}`, `bias_hh${s}`]), [D, 2 * H])]);
    for (const [name, make] of wanted) {
      if (!inputs.includes(name)) {
        throw new RnnError('format', `ONNX RNN node ${layer} reads ${JSON.stringify(name)}, which is not a graph input: export with export_params=False`);
      }
      feeds[name] = make();
    }
  });
  return feeds;
}
