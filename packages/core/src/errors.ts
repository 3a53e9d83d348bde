/**
 * Every failure the library reports is an RnnError with one of these stable codes. Tests and users
 * branch on `code`; the message says what was expected and what came.
 */
export type RnnErrorCode =
  | 'config' // an invalid RnnConfig field
  | 'weights' // a state dict that does not match the config (missing, unexpected, mis-shaped keys)
  | 'shape' // input or h0 whose shape or data length is wrong
  | 'lengths' // a bad `lengths` option
  | 'type' // a value of the wrong kind (e.g. data that is not a Float32Array)
  | 'format' // a malformed file (safetensors, vectors)
  | 'disposed' // a model or backend used after dispose()
  | 'unavailable' // an engine that cannot run here (no WebGPU adapter, no WebAssembly)
  | 'limit' // a size beyond what the engine can hold (WASM memory, GPU binding size)
  | 'device-lost' // the GPU device was lost
  | 'aborted' // the caller's AbortSignal fired (its reason is the error's cause)
  | 'internal'; // a bug in this library: please report it

export class RnnError extends Error {
  readonly code: RnnErrorCode;
  /** Structured facts behind the message (field, expected, actual, lists of keys), for tools. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: RnnErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RnnError';
    this.code = code;
    this.details = details;
  }
}

export function isRnnError(value: unknown, code?: RnnErrorCode): value is RnnError {
  return value instanceof RnnError && (code === undefined || value.code === code);
}

/** How a value is named in messages: `Float64Array`, `number`, `undefined`, `array`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'object') return 'object';
  return typeof value;
}

/** `[2, 3, 4]` — shapes are printed the way PyTorch prints sizes. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
