/**
 * Hand-made torch.save files for the cases PyTorch will not write (hostile pickles, damaged sizes):
 * a stored-zip writer and a few pickle opcodes. The files PyTorch does write are in fixtures/torch/.
 */
import { readFileSync } from 'node:fs';

export const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`./fixtures/torch/${name}`, import.meta.url)));

const utf8 = (text: string) => [...new TextEncoder().encode(text)];
const u16 = (n: number) => [n & 0xff, (n >>> 8) & 0xff];
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

/** Pickle opcodes, as byte arrays to concatenate. */
export const op = {
  proto: [0x80, 2],
  stop: [0x2e],
  mark: [0x28],
  tuple: [0x74],
  emptyTuple: [0x29],
  emptyDict: [0x7d],
  emptyList: [0x5d],
  setitem: [0x73],
  setitems: [0x75],
  append: [0x61],
  reduce: [0x52],
  build: [0x62],
  binpersid: [0x51],
  newfalse: [0x89],
  none: [0x4e],
  global: (module: string, name: string) => [0x63, ...utf8(`${module}\n${name}\n`)],
  str: (text: string) => [0x58, ...u32(utf8(text).length), ...utf8(text)],
  /** BININT, or LONG1 (8 bytes) beyond int32, as pickle writes them. */
  int: (n: number) => (n < 2 ** 31 ? [0x4a, ...u32(n)] : [0x8a, 8, ...new Uint8Array(new BigInt64Array([BigInt(n)]).buffer)]),
  tupleOf: (...items: number[][]) => [0x28, ...items.flat(), 0x74],
};

export interface TensorSpec {
  storageType?: string;
  storageNumel: number;
  offset?: number;
  shape: number[];
  stride: number[];
}

/** data.pkl of `{name: tensor}` for each spec, every tensor on its own storage key "0", "1", … */
export function statePickle(tensors: Record<string, TensorSpec>): number[] {
  const body = Object.entries(tensors).flatMap(([name, spec], index) => [
    ...op.str(name),
    ...op.global('torch._utils', '_rebuild_tensor_v2'),
    ...op.tupleOf(
      [...op.tupleOf(op.str('storage'), op.global('torch', spec.storageType ?? 'FloatStorage'), op.str(String(index)), op.str('cpu'), op.int(spec.storageNumel)), ...op.binpersid],
      op.int(spec.offset ?? 0),
      op.tupleOf(...spec.shape.map(op.int)),
      op.tupleOf(...spec.stride.map(op.int)),
      op.newfalse,
      [...op.global('collections', 'OrderedDict'), ...op.emptyTuple, ...op.reduce],
    ),
    ...op.reduce,
  ]);
  return [...op.proto, ...op.emptyDict, ...op.mark, ...body, ...op.setitems, ...op.stop];
}

/** A stored (uncompressed) zip of these entries, as torch.save lays it out (CRCs are left 0: not checked). */
export function storedZip(entries: Record<string, Uint8Array | number[]>): Uint8Array {
  const local: number[] = [];
  const central: number[] = [];
  for (const [name, content] of Object.entries(entries)) {
    const data = [...content];
    const nameBytes = utf8(name);
    const offset = local.length;
    local.push(...u32(0x04034b50), ...u16(20), ...u16(0), ...u16(0), ...u32(0), ...u32(0), ...u32(data.length), ...u32(data.length), ...u16(nameBytes.length), ...u16(0), ...nameBytes, ...data);
    central.push(...u32(0x02014b50), ...u16(20), ...u16(20), ...u16(0), ...u16(0), ...u32(0), ...u32(0), ...u32(data.length), ...u32(data.length),
      ...u16(nameBytes.length), ...u16(0), ...u16(0), ...u16(0), ...u16(0), ...u32(0), ...u32(offset), ...nameBytes);
  }
  const count = Object.keys(entries).length;
  const end = [...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(count), ...u16(count), ...u32(central.length), ...u32(local.length), ...u16(0)];
  return Uint8Array.from([...local, ...central, ...end]);
}

/** A torch.save-like zip of one pickle and its storages (`data/0`, `data/1`, … of the given sizes). */
export function checkpointZip(pickle: number[], storageBytes: number[] = [], extra: Record<string, Uint8Array | number[]> = {}): Uint8Array {
  const entries: Record<string, Uint8Array | number[]> = { 'archive/data.pkl': pickle };
  storageBytes.forEach((size, index) => { entries[`archive/data/${index}`] = new Uint8Array(size); });
  return storedZip({ ...entries, ...extra });
}
