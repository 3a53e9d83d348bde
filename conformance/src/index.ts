export {
  decodeCase,
  decodeManifest,
  REGENERATE_COMMAND,
  VECTOR_FORMAT,
  VECTOR_VERSION,
  type ConformanceCase,
  type Manifest,
  type ManifestEntry,
  type Tensor64,
} from './format.js';
export { runCase, type CaseResult } from './run.js';
export { TOLERANCE, EPSILON_F32, toleranceFor } from './tolerance.js';
export { fuzzCase, compareWithReference, FUZZ_TOLERANCE, type FuzzCase } from './fuzz.js';
