import { RnnError, type ResolvedConfig, type StateDict, type Tensor } from '@recurrent/core';
import { unpack } from 'msgpackr';

/** What generator/generate.py writes; a reader of another format or version refuses the file. */
export const VECTOR_FORMAT = 'recurrent-conformance-vectors';
export const VECTOR_VERSION = 3;
export const REGENERATE_COMMAND = 'pnpm --filter @recurrent/conformance generate';

/** The float64 reference: the same float32 weights and inputs run by PyTorch in double. */
export interface Tensor64 {
  data: Float64Array;
  shape: number[];
}

/**
 * The module and its constructor options, as core resolves them: `nonlinearity` is 'tanh' (unused) for
 * LSTM and GRU, `projSize` is 0 but for a projected LSTM. A cell (`cell: true`: nn.RNNCell, nn.LSTMCell,
 * nn.GRUCell) is one layer, one direction, time-major: numLayers 1, batchFirst and bidirectional false.
 */
export interface CaseConfig extends Omit<ResolvedConfig, 'dropout'> {
  cell: boolean;
}

/** What the result tables group cases by: nn.RNN, nn.LSTM, nn.LSTM with proj_size, nn.GRU, and the three cells. */
export type ModuleFamily = 'rnn' | 'lstm' | 'lstm-proj' | 'gru' | 'rnn-cell' | 'lstm-cell' | 'gru-cell';

export const MODULE_FAMILIES: readonly ModuleFamily[] = ['rnn', 'lstm', 'lstm-proj', 'gru', 'rnn-cell', 'lstm-cell', 'gru-cell'];

/** How tables head each family. */
export const FAMILY_LABELS: Record<ModuleFamily, string> = {
  rnn: 'RNN', lstm: 'LSTM', 'lstm-proj': 'LSTM-proj', gru: 'GRU', 'rnn-cell': 'RNNCell', 'lstm-cell': 'LSTMCell', 'gru-cell': 'GRUCell',
};

export function moduleFamily(config: Pick<CaseConfig, 'mode' | 'projSize'> & { cell?: boolean }): ModuleFamily {
  if (config.cell === true) return `${config.mode}-cell`;
  return config.mode === 'lstm' && config.projSize > 0 ? 'lstm-proj' : config.mode;
}

/** PyTorch's results: c_n only for an LSTM. A cell has no output (null): its h′ and c′ are hN and cN. */
export interface Results<T> {
  output: T | null;
  hN: T;
  cN: T | null;
}

/** One golden vector: everything an engine needs to run the case, and PyTorch's answers. */
export interface ConformanceCase {
  id: string;
  /** Why the case exists (from the spec). */
  why: string;
  /** Tags the CLI counts cases by: the spec group plus the options the config exercises. */
  features: string[];
  /** The file it was read from, for messages. */
  file: string;
  config: CaseConfig;
  input: Tensor;
  /** (D·layers, N, H_out), or without N for unbatched input; null for zeros. A cell's h is (N, H) or (H). */
  h0: Tensor | null;
  /** LSTM only: (D·layers, N, H) (a cell's c: (N, H) or (H)), given exactly when h0 is; null otherwise. */
  c0: Tensor | null;
  lengths: number[] | null;
  stateDict: StateDict;
  torch32: Results<Tensor>;
  ref64: Results<Tensor64>;
  torchVersion: string;
}

export interface ManifestEntry {
  id: string;
  file: string;
  module: ModuleFamily;
  features: string[];
  bytes: number;
  /** max |PyTorch float32 − float64 reference| over output, h_n and c_n, as the generator measured it. */
  torch32MaxError: number;
  ref64MaxAbs: number;
}

export interface Manifest {
  format: string;
  version: number;
  /** sha256 of spec/ when the vectors were generated (see spec-hash). */
  specHash: string;
  torch: string;
  cases: ManifestEntry[];
}


export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isSafeInteger(d) && d >= 0);
}

/**
 * The readers one kind of vector file needs, bound to its name, format, version and regenerate
 * command: the module vectors here and the gradient and trajectory families share one header check,
 * one tensor reader and one manifest decoder.
 */
export function vectorFileReader(label: string, format: string, version: number, regenerate: string) {
  function formatError(file: string, problem: string): RnnError {
    return new RnnError('format', `${label} file ${file}: ${problem}. Regenerate the vectors with: ${regenerate}`, { file, problem });
  }

  function checkHeader(file: string, value: unknown): Record<string, unknown> {
    if (!isObject(value)) throw formatError(file, 'expected a map at the top level');
    if (value.format !== format) throw formatError(file, `format is ${JSON.stringify(value.format)}, expected "${format}"`);
    if (value.version !== version) {
      throw formatError(file, `format version ${JSON.stringify(value.version)} is not the version ${version} this runner reads`);
    }
    return value;
  }

  /** A `{shape, dtype, data: bin}` map as a typed array. msgpackr hands `bin` out as a view at any offset: copy it. */
  function readTensor(file: string, where: string, value: unknown, dtype: 'float32'): Tensor;
  function readTensor(file: string, where: string, value: unknown, dtype: 'float64'): Tensor64;
  function readTensor(file: string, where: string, value: unknown, dtype: 'float32' | 'float64'): Tensor | Tensor64;
  function readTensor(file: string, where: string, value: unknown, dtype: 'float32' | 'float64'): Tensor | Tensor64 {
    if (!isObject(value) || !isShape(value.shape) || !(value.data instanceof Uint8Array)) {
      throw formatError(file, `${where} is not a tensor {shape, dtype, data: bytes}`);
    }
    if (value.dtype !== dtype) throw formatError(file, `${where} has dtype ${JSON.stringify(value.dtype)}, expected ${dtype}`);
    const count = value.shape.reduce((a, b) => a * b, 1);
    const width = dtype === 'float32' ? 4 : 8;
    if (value.data.byteLength !== count * width) {
      throw formatError(file, `${where} has ${value.data.byteLength} bytes, but shape [${value.shape.join(', ')}] of ${dtype} needs ${count * width}`);
    }
    const bytes = new Uint8Array(value.data); // copy: aligned, and owned by us
    const data = dtype === 'float32' ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer);
    return { data, shape: [...value.shape] } as Tensor | Tensor64;
  }

  /** A manifest.json: valid JSON, this kind's header, a specHash and a list of cases. */
  function decodeManifestRecord(text: string, file: string): Record<string, unknown> & { specHash: string; cases: unknown[] } {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (cause) {
      throw formatError(file, `not valid JSON (${(cause as Error).message})`);
    }
    const record = checkHeader(file, raw);
    if (typeof record.specHash !== 'string') throw formatError(file, 'field "specHash" is missing');
    if (!Array.isArray(record.cases)) throw formatError(file, 'field "cases" is missing');
    return record as Record<string, unknown> & { specHash: string; cases: unknown[] };
  }

  return { formatError, checkHeader, readTensor, decodeManifestRecord };
}

const { formatError, checkHeader, readTensor, decodeManifestRecord } = vectorFileReader('Conformance vector', VECTOR_FORMAT, VECTOR_VERSION, REGENERATE_COMMAND);

function readString(file: string, record: Record<string, unknown>, key: string): string {
  const value = record[key];
  if (typeof value !== 'string') throw formatError(file, `field "${key}" is missing or not a string`);
  return value;
}

function readConfig(file: string, value: unknown): CaseConfig {
  if (!isObject(value)) throw formatError(file, 'field "config" is missing');
  const { mode, cell, inputSize, hiddenSize, numLayers, nonlinearity, bias, batchFirst, bidirectional, projSize } = value;
  const positive = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
  if (mode !== 'rnn' && mode !== 'lstm' && mode !== 'gru') throw formatError(file, `config.mode is ${JSON.stringify(mode)}, expected "rnn", "lstm" or "gru"`);
  if (!positive(inputSize) || !positive(hiddenSize) || !positive(numLayers)) throw formatError(file, 'config sizes must be positive integers');
  if (nonlinearity !== 'tanh' && (nonlinearity !== 'relu' || mode !== 'rnn')) throw formatError(file, `config.nonlinearity is ${JSON.stringify(nonlinearity)} for mode ${mode}`);
  if (!(projSize === 0 || (mode === 'lstm' && positive(projSize) && projSize < hiddenSize))) {
    throw formatError(file, `config.projSize is ${JSON.stringify(projSize)}: 0, or for an LSTM an integer below hiddenSize`);
  }
  if (typeof cell !== 'boolean' || typeof bias !== 'boolean' || typeof batchFirst !== 'boolean' || typeof bidirectional !== 'boolean') {
    throw formatError(file, 'config.cell, bias, batchFirst and bidirectional must be booleans');
  }
  if (cell && (numLayers !== 1 || batchFirst || bidirectional || projSize !== 0)) {
    throw formatError(file, 'a cell has numLayers 1, batchFirst and bidirectional false and projSize 0');
  }
  return { mode, cell, inputSize, hiddenSize, numLayers, nonlinearity, bias, batchFirst, bidirectional, projSize };
}

/** Decodes one vector file; anything malformed, truncated or of another version is an RnnError('format') naming `file`. */
export function decodeCase(bytes: Uint8Array, file: string): ConformanceCase {
  let raw: unknown;
  try {
    raw = unpack(bytes);
  } catch (cause) {
    throw formatError(file, `not valid MessagePack (truncated or corrupt: ${(cause as Error).message})`);
  }
  const record = checkHeader(file, raw);
  const stateDictRaw = record.stateDict;
  if (!isObject(stateDictRaw)) throw formatError(file, 'field "stateDict" is missing');
  const stateDict: StateDict = {};
  for (const [name, value] of Object.entries(stateDictRaw)) stateDict[name] = readTensor(file, `stateDict.${name}`, value, 'float32');
  const config = readConfig(file, record.config);
  const lstm = config.mode === 'lstm';
  const results = (key: string, dtype: 'float32' | 'float64') => {
    const value = record[key];
    if (!isObject(value)) throw formatError(file, `field "${key}" is missing`);
    if (lstm !== (value.cN !== null && value.cN !== undefined)) throw formatError(file, `${key}.cN must be present for an LSTM and null otherwise`);
    if (config.cell !== (value.output === null)) throw formatError(file, `${key}.output must be null for a cell and a tensor otherwise`);
    return {
      output: config.cell ? null : readTensor(file, `${key}.output`, value.output, dtype as 'float32'),
      hN: readTensor(file, `${key}.hN`, value.hN, dtype as 'float32'),
      cN: lstm ? readTensor(file, `${key}.cN`, value.cN, dtype as 'float32') : null,
    };
  };
  const h0 = record.h0 === null ? null : readTensor(file, 'h0', record.h0, 'float32');
  const c0 = record.c0 === null || record.c0 === undefined ? null : readTensor(file, 'c0', record.c0, 'float32');
  if (lstm ? (c0 === null) !== (h0 === null) : c0 !== null) throw formatError(file, 'c0 must be given exactly when h0 is, and only for an LSTM');
  const lengths = record.lengths;
  if (lengths !== null && !(Array.isArray(lengths) && lengths.every((l) => Number.isSafeInteger(l)))) {
    throw formatError(file, 'field "lengths" must be null or a list of integers');
  }
  const features = record.features;
  if (!Array.isArray(features) || !features.every((f) => typeof f === 'string')) throw formatError(file, 'field "features" must be a list of strings');
  const torch32 = results('torch32', 'float32');
  const ref64 = results('ref64', 'float64') as unknown as ConformanceCase['ref64'];
  return {
    id: readString(file, record, 'id'),
    why: readString(file, record, 'why'),
    features,
    file,
    config,
    input: readTensor(file, 'input', record.input, 'float32'),
    h0,
    c0,
    lengths: lengths as number[] | null,
    stateDict,
    torch32,
    ref64,
    torchVersion: readString(file, record, 'torch'),
  };
}

/** Parses manifest.json; a wrong format or version is an RnnError('format') naming `file`. */
export function decodeManifest(text: string, file: string): Manifest {
  const record = decodeManifestRecord(text, file);
  for (const entry of record.cases) {
    if (!isObject(entry) || typeof entry.id !== 'string' || typeof entry.file !== 'string' || !Array.isArray(entry.features)
      || !MODULE_FAMILIES.includes(entry.module as ModuleFamily)) {
      throw formatError(file, `every entry of "cases" needs id, file, module (${MODULE_FAMILIES.join(', ')}) and features`);
    }
  }
  return record as unknown as Manifest;
}
