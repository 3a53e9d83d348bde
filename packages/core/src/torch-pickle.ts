import { RnnError, describeValue, formatShape } from './errors.js';
import type { StateDict } from './types.js';
import { readZip, storedBytes } from './zip.js';

/**
 * Reading `torch.save` files (.pt/.pth) without Python and without executing anything in them.
 *
 * A torch.save file is a pickle whose tensors point at raw storages kept beside it: in a zip archive
 * (`<archive>/data.pkl`, `<archive>/data/<key>`, PyTorch ≥ 1.6), or, in the legacy format, in the same
 * stream after the pickle. The unpickler here is an allow-list, like `torch.load(weights_only=True)`:
 * it knows the opcodes that build plain data (ints, strings, lists, tuples, dicts) and the few globals
 * torch.save writes for tensors and containers. Any other global or object-building opcode is refused
 * by name before anything is built; nothing in the file is ever called.
 */

export interface TorchReadOptions {
  /** The nested dict that holds the state dict: `'model'`, or a dotted path such as `'state.model'`. */
  key?: string;
  /** Keep only the keys that start with this (e.g. `'encoder.rnn.'`), with the prefix removed. */
  prefix?: string;
}

type FloatDType = 'float32' | 'float16' | 'bfloat16' | 'float64';

/** A storage class named by the file (`torch.FloatStorage`); integer ones are read and left out. */
class StorageType {
  constructor(readonly name: string, readonly dtype: FloatDType | null, readonly elementSize: number) {}
}

/** A global the allow-list admits as a callable (REDUCE target) or as a type marker. */
class Global {
  constructor(readonly name: string) {}
}

/** One storage of the file: its bytes are bound when found (zip entry, or after the legacy pickle). */
interface RootStorage {
  key: string;
  type: StorageType;
  numel: number;
  bytes: Uint8Array | null;
}

/**
 * What a pickle's persistent id resolves to: a root storage, or (legacy) a slice of one. numel −1 means
 * "all of the root", whose size a legacy file only gives after the pickle.
 */
class StorageView {
  constructor(readonly root: RootStorage, readonly offset: number, readonly numel: number) {}
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, …)`, kept lazy until selected. */
class TensorRef {
  constructor(readonly storage: StorageView, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

const STORAGE_TYPES = new Map<string, StorageType>(
  ([
    ['FloatStorage', 'float32', 4], ['HalfStorage', 'float16', 2], ['BFloat16Storage', 'bfloat16', 2], ['DoubleStorage', 'float64', 8],
    ['LongStorage', null, 8], ['IntStorage', null, 4], ['ShortStorage', null, 2], ['CharStorage', null, 1], ['ByteStorage', null, 1], ['BoolStorage', null, 1],
  ] as const).map(([name, dtype, size]) => [`torch.${name}`, new StorageType(`torch.${name}`, dtype, size)]),
);

/** Every callable or type a file may name; anything else is refused. */
const CALLABLES = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._tensor._rebuild_from_type_v2',
  'torch.nn.parameter.Parameter',
  'torch.Tensor',
  'torch.Size',
  '_codecs.encode', // protocol 2 writes bytes objects as _codecs.encode(str, 'latin1')
  'builtins.set', 'builtins.frozenset', '__builtin__.set', '__builtin__.frozenset',
]);

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
const MAX_RANK = 64;
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function formatError(message: string, details: Record<string, unknown> = {}): RnnError {
  return new RnnError('format', `Invalid torch.save file: ${message}`, details);
}

function selectionError(message: string, details: Record<string, unknown> = {}): RnnError {
  return new RnnError('format', `readTorchStateDict: ${message}`, details);
}

/**
 * Reads the float tensors of a `torch.save` file (.pt/.pth) as a StateDict that createRnn, createLstm
 * and createGru take directly. float32, float16, bfloat16 and float64 storages become float32; integer
 * tensors (e.g. a BatchNorm's num_batches_tracked) are left out; everything that is not a tensor (epoch,
 * optimizer hyper-parameters, lists, strings) is read and ignored. With `key`, the state dict is taken
 * from a nested dict; with `prefix`, only the keys under a submodule are kept, renamed without it.
 *
 * Zero copy: a contiguous float32 tensor whose little-endian storage is 4-byte aligned in `bytes` (torch
 * aligns zip entries to 64 bytes) is a Float32Array *view of `bytes`*; tensors that share a storage in
 * the file share memory here, as they do in PyTorch. createRnn & co. copy weights, so this only matters
 * if you write into `bytes` or into the tensors yourself afterwards: copy them first if you will.
 *
 * Any malformed, truncated or hostile file (a global outside the allow-list, such as `os.system`) is an
 * RnnError with code `format` that names what was refused; nothing in the file is executed.
 */
export function readTorchStateDict(file: Uint8Array | ArrayBuffer, options: TorchReadOptions = {}): StateDict {
  if (!(file instanceof Uint8Array) && !(file instanceof ArrayBuffer)) {
    throw new RnnError('type', `readTorchStateDict expects a Uint8Array or ArrayBuffer, got ${describeValue(file)}`);
  }
  if (options === null || typeof options !== 'object') {
    throw new RnnError('type', `readTorchStateDict options must be an object { key?, prefix? }, got ${describeValue(options)}`);
  }
  for (const field of ['key', 'prefix'] as const) {
    if (options[field] !== undefined && typeof options[field] !== 'string') {
      throw new RnnError('type', `readTorchStateDict option ${field} must be a string, got ${describeValue(options[field])}`);
    }
  }
  const bytes = file instanceof Uint8Array ? file : new Uint8Array(file);
  try {
    const checkpoint = isZip(bytes) ? readZipCheckpoint(bytes) : readLegacyCheckpoint(bytes);
    return selectStateDict(checkpoint, options);
  } catch (error) {
    if (error instanceof RnnError) throw error;
    // A limit of the runtime (an allocation, a string too long): still the file's fault, never a crash.
    throw formatError(`could not be read (${(error as Error)?.message ?? String(error)})`);
  }
}

interface Checkpoint {
  root: unknown;
  littleEndian: boolean;
  /** Float32 elements the reader may allocate: a multiple of the file size, so views cannot blow up. */
  budget: number;
}

function isZip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

function budgetFor(bytes: Uint8Array): number {
  return Math.max(1 << 24, 2 * bytes.byteLength);
}

function readZipCheckpoint(bytes: Uint8Array): Checkpoint {
  const entries = readZip(bytes);
  const pickles = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) {
    throw formatError(pickles.length === 0
      ? 'a zip archive without <archive>/data.pkl (not written by torch.save)'
      : `the archive holds ${pickles.length} data.pkl files (${pickles.join(', ')}); expected one`);
  }
  const archive = pickles[0]!.slice(0, -'/data.pkl'.length);
  let littleEndian = true; // files without a byteorder entry predate it (torch < 2.1) and are little-endian
  const byteorder = entries.get(`${archive}/byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(storedBytes(byteorder)).trim();
    if (order !== 'little' && order !== 'big') throw formatError(`${archive}/byteorder says ${JSON.stringify(order.slice(0, 20))}; expected "little" or "big"`);
    littleEndian = order === 'little';
  }
  const storages = new Map<string, RootStorage>();
  const root = unpickle(storedBytes(entries.get(pickles[0]!)!), 0, `${archive}/data.pkl`, (pid) => {
    const [tag, type, key, location, numel] = expectTuple(pid, 5, 'a persistent id');
    const root = registerStorage(storages, tag, type, key, location, numel);
    if (root.bytes === null) {
      const stored = entries.get(`${archive}/data/${root.key}`);
      if (!stored) throw formatError(`storage "${root.key}" has no entry ${archive}/data/${root.key}`);
      const entry = storedBytes(stored);
      if (entry.byteLength < root.numel * root.type.elementSize) {
        throw formatError(`storage "${root.key}" (${root.numel} × ${root.type.name}) needs ${root.numel * root.type.elementSize} bytes, its entry has ${entry.byteLength}`);
      }
      root.bytes = entry;
    }
    return new StorageView(root, 0, root.numel);
  }).value;
  return { root, littleEndian, budget: budgetFor(bytes) };
}

function readLegacyCheckpoint(bytes: Uint8Array): Checkpoint {
  // Legacy files open with pickle protocol 2 and a 10-byte LONG1: torch's magic number.
  if (!(bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a && bytes[3] === 0x0a)) {
    throw formatError('it is neither a zip archive (torch.save since PyTorch 1.6) nor the legacy torch.save format (it does not start with either signature)');
  }
  const refuse = (): never => { throw formatError('a persistent id outside the main pickle'); };
  const magic = unpickle(bytes, 0, 'the magic number', refuse);
  if (magic.value !== LEGACY_MAGIC) throw formatError(`the legacy magic number is ${String(magic.value)}, expected ${LEGACY_MAGIC}`);
  const protocol = unpickle(bytes, magic.end, 'the protocol version', refuse);
  if (protocol.value !== LEGACY_PROTOCOL) throw formatError(`legacy protocol version ${describeValue(protocol.value)}, expected ${LEGACY_PROTOCOL}`);
  const sysInfo = unpickle(bytes, protocol.end, 'sys_info', refuse);
  const littleEndian = sysInfo.value instanceof Map ? sysInfo.value.get('little_endian') : undefined;
  if (typeof littleEndian !== 'boolean') throw formatError('the legacy sys_info has no little_endian flag');

  const storages = new Map<string, RootStorage>();
  const main = unpickle(bytes, sysInfo.end, 'the main pickle', (pid) => {
    const [tag, type, key, location, numel, viewMetadata] = expectTuple(pid, 6, 'a persistent id');
    const root = registerStorage(storages, tag, type, key, location, numel);
    if (viewMetadata === null) return new StorageView(root, 0, -1);
    // Storages that were views of another storage (PyTorch < 0.4): (view_key, offset, size) in elements.
    const [, offset, size] = expectTuple(viewMetadata, 3, 'storage view metadata');
    return new StorageView(root, expectCount(offset, 'a storage view offset'), expectCount(size, 'a storage view size'));
  });
  const keys = unpickle(bytes, main.end, 'the storage keys', refuse);
  if (!Array.isArray(keys.value)) throw formatError(`the legacy storage keys are ${pyKind(keys.value)}, expected a list`);

  // Then each storage in that order: its element count (int64, in the file's byte order) and its bytes.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let position = keys.end;
  for (const key of keys.value as unknown[]) {
    const root = typeof key === 'string' ? storages.get(key) : undefined;
    if (!root) throw formatError(`storage key ${describeValue(key)} follows the pickle but no tensor uses it`);
    if (root.bytes !== null) throw formatError(`storage "${root.key}" is stored twice`);
    if (position + 8 > bytes.byteLength) throw formatError(`storage "${root.key}" starts past the end of the ${bytes.byteLength}-byte file (is it truncated?)`);
    const count = view.getBigInt64(position, littleEndian);
    const byteLength = count * BigInt(root.type.elementSize);
    if (count < 0n || byteLength > BigInt(bytes.byteLength - position - 8)) {
      throw formatError(`storage "${root.key}" claims ${count} × ${root.type.name} (${byteLength} bytes) but ${bytes.byteLength - position - 8} bytes remain (is the file truncated?)`);
    }
    root.numel = Number(count);
    root.bytes = bytes.subarray(position + 8, position + 8 + Number(byteLength));
    position += 8 + Number(byteLength);
  }
  for (const root of storages.values()) {
    if (root.bytes === null) throw formatError(`storage "${root.key}" is used by a tensor but missing from the file (is it truncated?)`);
  }
  return { root: main.value, littleEndian, budget: budgetFor(bytes) };
}

function registerStorage(storages: Map<string, RootStorage>, tag: unknown, type: unknown, key: unknown, location: unknown, numel: unknown): RootStorage {
  if (tag !== 'storage') throw formatError(`a persistent id tagged ${describeValue(tag)}; expected "storage"`);
  if (!(type instanceof StorageType)) throw formatError(`a storage of type ${describeValue(type)}; expected one of ${[...STORAGE_TYPES.keys()].join(', ')}`);
  if (typeof key !== 'string' || typeof location !== 'string') throw formatError('a storage without a string key and location');
  const count = expectCount(numel, `the size of storage "${key}"`);
  const known = storages.get(key);
  if (known) {
    if (known.type !== type) throw formatError(`storage "${key}" is used as both ${known.type.name} and ${type.name}`);
    return known;
  }
  const root: RootStorage = { key, type, numel: count, bytes: null };
  storages.set(key, root);
  return root;
}

// ---------------------------------------------------------------------------------------------------
// The unpickler: a stack machine over the opcodes that build plain data, and nothing else.

interface Unpickled {
  value: unknown;
  /** The byte after STOP: where the next pickle of a legacy file starts. */
  end: number;
}

const REFUSED_OPCODES: Record<number, string> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x81: 'NEWOBJ', 0x92: 'NEWOBJ_EX', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
  0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

function unpickle(bytes: Uint8Array, start: number, what: string, persistentLoad: (pid: unknown) => unknown): Unpickled {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const memo = new Map<number, unknown>();
  const metastack: unknown[][] = [];
  let stack: unknown[] = [];
  let position = start;
  let opcodeAt = start;

  const fail = (message: string) => formatError(`${what}, byte ${opcodeAt}: ${message}`);
  const need = (count: number): number => {
    if (count > bytes.byteLength - position) throw fail(`the pickle is cut short (is the file truncated?)`);
    const at = position;
    position += count;
    return at;
  };
  const take = (count: number): Uint8Array => bytes.subarray(need(count), position);
  const length8 = (): number => {
    const value = view.getBigUint64(need(8), true);
    if (value > BigInt(bytes.byteLength)) throw fail(`a length of ${value} bytes, longer than the file`);
    return Number(value);
  };
  const text = (raw: Uint8Array): string => {
    try {
      return utf8.decode(raw);
    } catch {
      throw fail('a string that is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, position);
    if (end < 0) throw fail('a GLOBAL without its newline (is the file truncated?)');
    return text(take(end - position + 1).subarray(0, -1));
  };
  const pop = (): unknown => {
    if (stack.length === 0) throw fail('the pickle stack is empty');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw fail('the pickle stack is empty');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const below = metastack.pop();
    if (below === undefined) throw fail('no MARK to pop to');
    stack = below;
    return items;
  };
  const topList = (): unknown[] => {
    const list = top();
    if (!Array.isArray(list)) throw fail(`appending to ${pyKind(list)}`);
    return list;
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) throw fail(`setting items of ${pyKind(dict)}`);
    if (items.length % 2 !== 0) throw fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };
  const integer = (raw: Uint8Array): number | bigint => {
    let value = 0n;
    for (let i = raw.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i]!);
    if (raw.length > 0 && raw[raw.length - 1]! & 0x80) value -= 1n << BigInt(8 * raw.length);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  };
  const memoGet = (index: number): unknown => {
    if (!memo.has(index)) throw fail(`memo entry ${index} was never stored`);
    return memo.get(index);
  };

  for (;;) {
    opcodeAt = position;
    const opcode = bytes[need(1)]!;
    switch (opcode) {
      case 0x80: { // PROTO
        const protocol = bytes[need(1)]!;
        if (protocol > 5) throw fail(`pickle protocol ${protocol}; supported are 2 to 5`);
        break;
      }
      case 0x95: need(8); break; // FRAME: a read-ahead hint
      case 0x2e: return { value: pop(), end: position }; // STOP
      case 0x28: metastack.push(stack); stack = []; break; // MARK
      case 0x30: if (stack.length > 0) stack.pop(); else popMark(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(view.getInt32(need(4), true)); break; // BININT
      case 0x4b: stack.push(bytes[need(1)]!); break; // BININT1
      case 0x4d: stack.push(view.getUint16(need(2), true)); break; // BININT2
      case 0x8a: stack.push(integer(take(bytes[need(1)]!))); break; // LONG1
      case 0x8b: { // LONG4
        const size = view.getUint32(need(4), true);
        if (size > 256) throw fail(`an integer of ${size} bytes`);
        stack.push(integer(take(size)));
        break;
      }
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT
      case 0x58: case 0x54: stack.push(text(take(view.getUint32(need(4), true)))); break; // BINUNICODE, BINSTRING
      case 0x8c: case 0x55: stack.push(text(take(bytes[need(1)]!))); break; // SHORT_BINUNICODE, SHORT_BINSTRING
      case 0x8d: stack.push(text(take(length8()))); break; // BINUNICODE8
      case 0x42: stack.push(take(view.getUint32(need(4), true))); break; // BINBYTES
      case 0x43: stack.push(take(bytes[need(1)]!)); break; // SHORT_BINBYTES
      case 0x8e: case 0x96: stack.push(take(length8())); break; // BINBYTES8, BYTEARRAY8
      case 0x29: case 0x5d: case 0x8f: stack.push([]); break; // EMPTY_TUPLE, EMPTY_LIST, EMPTY_SET
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x74: case 0x6c: case 0x91: { const items = popMark(); stack.push(items); break; } // TUPLE, LIST, FROZENSET
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x64: { const dict = new Map(); setItems(dict, popMark()); stack.push(dict); break; } // DICT
      case 0x61: { const item = pop(); topList().push(item); break; } // APPEND
      case 0x65: case 0x90: { // APPENDS, ADDITEMS
        const items = popMark();
        const list = topList();
        for (const item of items) list.push(item);
        break;
      }
      case 0x73: { const value = pop(); const key = pop(); setItems(top(), [key, value]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x68: stack.push(memoGet(bytes[need(1)]!)); break; // BINGET
      case 0x6a: stack.push(memoGet(view.getUint32(need(4), true))); break; // LONG_BINGET
      case 0x71: memo.set(bytes[need(1)]!, top()); break; // BINPUT
      case 0x72: memo.set(view.getUint32(need(4), true), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(resolveGlobal(module, line(), fail));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL without a module and a name');
        stack.push(resolveGlobal(module, name, fail));
        break;
      }
      case 0x52: { const args = pop(); stack.push(reduce(pop(), args, fail)); break; } // REDUCE
      case 0x62: { // BUILD: only the state torch.save gives dicts (OrderedDict._metadata) and tensors
        pop(); // the state: read and ignored
        const target = top();
        if (!(target instanceof Map) && !(target instanceof TensorRef)) throw fail(`BUILD on ${pyKind(target)} is refused`);
        break;
      }
      case 0x51: stack.push(persistentLoad(pop())); break; // BINPERSID
      default: {
        const name = REFUSED_OPCODES[opcode];
        throw fail(name
          ? `pickle opcode ${name} is refused (it builds arbitrary objects; torch.save does not write it for tensors)`
          : `unsupported pickle opcode 0x${opcode.toString(16).padStart(2, '0')} (${JSON.stringify(String.fromCharCode(opcode))})`);
      }
    }
  }
}

function resolveGlobal(module: string, name: string, fail: (message: string) => RnnError): StorageType | Global {
  const qualified = `${module}.${name}`;
  const storage = STORAGE_TYPES.get(qualified);
  if (storage) return storage;
  if (CALLABLES.has(qualified)) return new Global(qualified);
  const hint = module.startsWith('__torch__')
    ? ' This is a TorchScript archive (torch.jit.save): save the module\'s state dict with torch.save(model.state_dict(), path) instead.'
    : ' Only tensors and plain containers are read, like torch.load(weights_only=True); nothing in the file is executed.' +
      ' Re-save the checkpoint without that object (e.g. torch.save(model.state_dict(), path)).';
  throw fail(`refused global ${qualified}.${hint}`);
}

/** REDUCE: the only calls a file may ask for, each checking its arguments and building plain data. */
function reduce(callable: unknown, args: unknown, fail: (message: string) => RnnError): unknown {
  if (!(callable instanceof Global)) throw fail(`REDUCE calls ${pyKind(callable)}, which is not an allowed global`);
  if (!Array.isArray(args)) throw fail(`REDUCE of ${callable.name} with ${pyKind(args)} for arguments`);
  switch (callable.name) {
    case 'collections.OrderedDict':
      if (args.length !== 0) throw fail('OrderedDict with arguments');
      return new Map();
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2': {
      const [storage, offset, shape, stride] = args;
      if (args.length < 4 || !(storage instanceof StorageView)) throw fail(`${callable.name} without a storage`);
      const dims = expectDims(shape, 'a tensor size', fail);
      const strides = expectDims(stride, 'a tensor stride', fail);
      if (dims.length !== strides.length) throw fail(`a tensor of size ${formatShape(dims)} with stride ${formatShape(strides)}`);
      return new TensorRef(storage, expectCount(offset, 'a storage offset'), dims, strides);
    }
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
    case 'torch.nn.parameter.Parameter':
      if (!(args[0] instanceof TensorRef)) throw fail(`${callable.name} of ${pyKind(args[0])}`);
      return args[0];
    case 'torch._tensor._rebuild_from_type_v2': {
      const [func, type, funcArgs] = args;
      if (!(type instanceof Global) || (type.name !== 'torch.Tensor' && type.name !== 'torch.nn.parameter.Parameter')) {
        throw fail(`_rebuild_from_type_v2 of type ${pyKind(type)}`);
      }
      return reduce(func, funcArgs, fail);
    }
    case 'torch.Size':
      if (!Array.isArray(args[0])) throw fail(`torch.Size of ${pyKind(args[0])}`);
      return args[0];
    case '_codecs.encode':
      if (typeof args[0] !== 'string') throw fail(`_codecs.encode of ${pyKind(args[0])}`);
      return Uint8Array.from(args[0], (c) => c.charCodeAt(0) & 0xff);
    case 'builtins.set': case 'builtins.frozenset': case '__builtin__.set': case '__builtin__.frozenset':
      if (args.length > 1 || (args.length === 1 && !Array.isArray(args[0]))) throw fail(`${callable.name} of ${pyKind(args[0])}`);
      return args.length === 1 ? [...(args[0] as unknown[])] : [];
    default:
      throw fail(`${callable.name} cannot be called`);
  }
}

function expectTuple(value: unknown, minLength: number, what: string): unknown[] {
  if (!Array.isArray(value) || value.length < minLength) throw formatError(`${what} should be a tuple of ${minLength}, got ${pyKind(value)}`);
  return value;
}

function expectCount(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw formatError(`${what} is ${describeValue(value)}, expected a non-negative integer`);
  return value;
}

function expectDims(value: unknown, what: string, fail: (message: string) => RnnError): number[] {
  if (!Array.isArray(value) || value.length > MAX_RANK || !value.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw fail(`${what} of ${pyKind(value)}; expected at most ${MAX_RANK} non-negative integers`);
  }
  return value as number[];
}

/** How a Python value is named in messages. */
function pyKind(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value instanceof TensorRef) return `a tensor of size ${formatShape(value.shape)}`;
  if (value instanceof Map) return `a dict of ${value.size} keys`;
  if (Array.isArray(value)) return `a list or tuple of ${value.length}`;
  if (value instanceof Uint8Array) return 'bytes';
  if (value instanceof Global) return value.name;
  if (value instanceof StorageType) return value.name;
  if (value instanceof StorageView) return 'a storage';
  if (typeof value === 'string') return `the string ${describeValue(value)}`;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

// ---------------------------------------------------------------------------------------------------
// From the unpickled object to a StateDict: pick the dict, filter by prefix, then read the tensors.

function selectStateDict(checkpoint: Checkpoint, { key, prefix }: TorchReadOptions): StateDict {
  let target = checkpoint.root;
  let path = '';
  if (key !== undefined && key !== '') {
    for (const segment of key.split('.')) {
      const next = child(target, segment);
      if (next === undefined) {
        const where = path === '' ? 'the top-level object' : `"${path}"`;
        const keys = target instanceof Map ? [...target.keys()].filter((k) => typeof k === 'string' || typeof k === 'number').map(String) : [];
        const found = tensorDicts(checkpoint.root);
        throw selectionError(`key "${key}": ${where} has no key "${segment}" (its keys: ${listing(keys)}).` + whereTensorsAre(found),
          { key, keys, keysWithTensors: found.map((d) => d.path) });
      }
      target = next;
      path = path === '' ? segment : `${path}.${segment}`;
    }
  }
  const where = path === '' ? 'the file' : `key "${path}"`;
  if (target instanceof TensorRef) throw selectionError(`${where} holds a single tensor of size ${formatShape(target.shape)}, not a state dict (a dict of named tensors)`);
  if (!(target instanceof Map)) throw selectionError(`${where} holds ${pyKind(target)}, not a state dict (a dict of named tensors)`);

  let named = [...target].filter((entry): entry is [string, TensorRef] => typeof entry[0] === 'string' && entry[1] instanceof TensorRef);
  if (named.length === 0) {
    const found = tensorDicts(target).map((d) => ({ ...d, path: path === '' ? d.path : `${path}.${d.path}` }));
    throw selectionError(`${where} holds no tensors at its top level: pass { key } naming the dict that holds the state dict.` + whereTensorsAre(found), { keysWithTensors: found.map((d) => d.path) });
  }
  if (prefix) {
    const all = named;
    named = all.filter(([name]) => name.startsWith(prefix)).map(([name, tensor]) => [name.slice(prefix.length), tensor]);
    if (named.length === 0) {
      const prefixes = modulePrefixes(all.map(([name]) => name));
      throw selectionError(`no tensor name in ${where} starts with "${prefix}"; the prefixes there are ${listing(prefixes)}`, { prefix, prefixes });
    }
  }
  const decoded = new Map<RootStorage, Float32Array>();
  const dict: StateDict = {};
  for (const [name, tensor] of named) {
    if (tensor.storage.root.type.dtype === null) continue; // integer tensors are not weights
    dict[name] = { data: readTensor(name, tensor, checkpoint, decoded), shape: [...tensor.shape] };
  }
  return dict;
}

/** A dict's value by key (ints match their decimal form) or a list's item by index. */
function child(container: unknown, segment: string): unknown {
  if (container instanceof Map) {
    if (container.has(segment)) return container.get(segment);
    for (const [k, v] of container) if (typeof k === 'number' && String(k) === segment) return v;
    return undefined;
  }
  if (Array.isArray(container) && /^\d+$/.test(segment)) return container[Number(segment)];
  return undefined;
}

/** The dicts (`root` included, path '') that directly hold tensors, with their dotted paths, shallowest first. */
function tensorDicts(root: unknown): { path: string; count: number }[] {
  const found: { path: string; count: number }[] = [];
  const seen = new Set<unknown>([root]);
  const queue: [unknown, string][] = [[root, '']];
  for (let i = 0; i < queue.length && found.length < 100; i++) {
    const [value, path] = queue[i]!;
    const children: [unknown, unknown][] = value instanceof Map ? [...value] : Array.isArray(value) ? value.map((v, index) => [index, v]) : [];
    let count = 0;
    for (const [k, v] of children) {
      if (v instanceof TensorRef) count++;
      else if ((v instanceof Map || Array.isArray(v)) && (typeof k === 'string' || typeof k === 'number') && !seen.has(v)) {
        seen.add(v);
        queue.push([v, path === '' ? String(k) : `${path}.${k}`]);
      }
    }
    if (count > 0 && value instanceof Map) found.push({ path, count });
  }
  return found;
}

function whereTensorsAre(found: { path: string; count: number }[]): string {
  if (found.length === 0) return ' No dict in the file holds tensors.';
  const shown = found.slice(0, 8).map(({ path, count }) => `${path === '' ? 'the top level (no key)' : `"${path}"`} (${count} tensor${count === 1 ? '' : 's'})`);
  return ` The dicts that hold tensors: ${shown.join(', ')}${found.length > 8 ? `, and ${found.length - 8} more` : ''}.`;
}

/** `encoder.`, `encoder.rnn.`, … : every submodule path in a list of parameter names. */
function modulePrefixes(names: string[]): string[] {
  const prefixes = new Set<string>();
  for (const name of names) {
    for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) prefixes.add(name.slice(0, dot + 1));
  }
  return [...prefixes];
}

function listing(items: string[]): string {
  if (items.length === 0) return 'none';
  const shown = items.slice(0, 12).map((item) => `"${item}"`).join(', ');
  return items.length > 12 ? `${shown}, … (${items.length} in all)` : shown;
}

/** A tensor's values in row-major order: a view of its storage when contiguous, else gathered. */
function readTensor(name: string, tensor: TensorRef, checkpoint: Checkpoint, decoded: Map<RootStorage, Float32Array>): Float32Array {
  const { storage, offset, shape, stride } = tensor;
  let numel = 1;
  for (const size of shape) numel *= size;
  if (numel === 0) return new Float32Array(0);
  const storageNumel = storage.numel < 0 ? storage.root.numel : storage.numel;
  if (storage.offset + storageNumel > storage.root.numel) {
    throw formatError(`tensor "${name}": its storage view ends at element ${storage.offset + storageNumel} of a storage of ${storage.root.numel}`);
  }
  let last = offset;
  for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * stride[d]!;
  if (!(last < storageNumel)) {
    throw formatError(`tensor "${name}" (size ${formatShape(shape)}, stride ${formatShape(stride)}, offset ${offset}) reaches element ${last + 1} of a storage of ${storageNumel} elements`,
      { tensor: name });
  }
  let data = decoded.get(storage.root);
  if (!data) {
    data = decodeStorage(storage.root, checkpoint);
    decoded.set(storage.root, data);
  }
  const base = storage.offset + offset;
  if (isContiguous(shape, stride)) return data.subarray(base, base + numel);
  spend(checkpoint, numel, `tensor "${name}"`);
  return gather(data, base, shape, stride, numel);
}

/** Counts what is allocated against the budget, so that no view can make the reader allocate without bound. */
function spend(checkpoint: Checkpoint, elements: number, what: string): void {
  if (elements > checkpoint.budget) {
    throw formatError(`${what} would need ${elements} more float32 values than a file of this size can justify (a view that repeats its storage beyond reason)`);
  }
  checkpoint.budget -= elements;
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

const TILE = 64;

/**
 * Strided read (a transposed weight, a column, an expanded tensor) into a fresh row-major array. The
 * last two axes are copied in tiles, so that a transposed source is read from cache, not memory.
 */
function gather(source: Float32Array, base: number, shape: number[], stride: number[], numel: number): Float32Array {
  const out = new Float32Array(numel);
  const rank = shape.length;
  const rows = rank >= 2 ? shape[rank - 2]! : 1;
  const cols = rank >= 1 ? shape[rank - 1]! : 1;
  const rowStride = rank >= 2 ? stride[rank - 2]! : 0;
  const colStride = rank >= 1 ? stride[rank - 1]! : 0;
  const outerAxes = Math.max(rank - 2, 0);
  const index = new Array<number>(outerAxes).fill(0);
  let position = base;
  for (let k = 0; k < numel; k += rows * cols) {
    for (let i0 = 0; i0 < rows; i0 += TILE) {
      const iEnd = Math.min(i0 + TILE, rows);
      for (let j0 = 0; j0 < cols; j0 += TILE) {
        const jEnd = Math.min(j0 + TILE, cols);
        for (let i = i0; i < iEnd; i++) {
          let from = position + i * rowStride + j0 * colStride;
          let to = k + i * cols + j0;
          for (let j = j0; j < jEnd; j++, from += colStride) out[to++] = source[from]!;
        }
      }
    }
    for (let d = outerAxes - 1; d >= 0; d--) { // the next matrix: an odometer over the leading axes
      if (++index[d]! < shape[d]!) {
        position += stride[d]!;
        break;
      }
      index[d] = 0;
      position -= stride[d]! * (shape[d]! - 1);
    }
  }
  return out;
}

let halfTable: Float32Array | null = null;

/** float16 bits → float32, for all 65536 patterns (built once, on first use). */
function halfToFloat(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    halfTable[bits] = exponent === 0 ? sign * fraction * 2 ** -24
      : exponent === 0x1f ? (fraction === 0 ? sign * Infinity : NaN)
      : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return halfTable;
}

/** A whole storage as float32: the file's bytes themselves when they already are aligned little-endian float32. */
function decodeStorage(root: RootStorage, checkpoint: Checkpoint): Float32Array {
  const { numel, type } = root;
  const bytes = root.bytes!.subarray(0, numel * type.elementSize);
  const littleEndian = checkpoint.littleEndian;
  if (type.dtype === 'float32' && littleEndian && HOST_LITTLE_ENDIAN) {
    if ((bytes.byteOffset & 3) === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, numel);
    spend(checkpoint, numel, `storage "${root.key}"`);
    return new Float32Array(bytes.slice().buffer);
  }
  spend(checkpoint, numel, `storage "${root.key}"`);
  const out = new Float32Array(numel);
  // Typed-array reads where the bytes allow them (torch aligns zip entries to 64 bytes), DataView otherwise.
  const direct = littleEndian && HOST_LITTLE_ENDIAN && bytes.byteOffset % type.elementSize === 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type.dtype) {
    case 'float32':
      for (let i = 0; i < numel; i++) out[i] = view.getFloat32(i * 4, littleEndian);
      break;
    case 'float64':
      if (direct) out.set(new Float64Array(bytes.buffer, bytes.byteOffset, numel));
      else for (let i = 0; i < numel; i++) out[i] = view.getFloat64(i * 8, littleEndian);
      break;
    case 'float16': {
      const table = halfToFloat();
      if (direct) {
        const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, numel);
        for (let i = 0; i < numel; i++) out[i] = table[halves[i]!]!;
      } else {
        for (let i = 0; i < numel; i++) out[i] = table[view.getUint16(i * 2, littleEndian)]!;
      }
      break;
    }
    case 'bfloat16': {
      const bits = new Uint32Array(out.buffer);
      if (direct) {
        const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, numel);
        for (let i = 0; i < numel; i++) bits[i] = halves[i]! << 16;
      } else {
        for (let i = 0; i < numel; i++) bits[i] = view.getUint16(i * 2, littleEndian) << 16;
      }
      break;
    }
  }
  return out;
}
