export {
  decodeCase,
  decodeManifest,
  moduleFamily,
  FAMILY_LABELS,
  MODULE_FAMILIES,
  REGENERATE_COMMAND,
  VECTOR_FORMAT,
  VECTOR_VERSION,
  type CaseConfig,
  type ConformanceCase,
  type ModuleFamily,
  type Results,
  type Manifest,
  type ManifestEntry,
  type Tensor64,
} from './format.js';
export {
  createCaseModel, moduleConfig, runCase, runStreamCase, streamChunkings, streamsCase, ONE_STEP_PUSHES, type CaseModel, type CaseResult, type CaseStream, type Check, type Chunking,
} from './run.js';
export { TOLERANCE, EPSILON_F32, toleranceFor } from './tolerance.js';
export { fuzzCase, compareWithReference, FUZZ_TOLERANCE, type FuzzCase, type FuzzResult } from './fuzz.js';
export {
  decodeGradientCase, decodeGradientManifest, exclusionFor, formatGradientTable, gradientTolerance, runGradientCase, GRADIENT_FORMAT, GRADIENT_REGENERATE_COMMAND, GRADIENT_VERSION,
  type GradientCase, type GradientCaseConfig, type GradientExclusion, type GradientManifest, type GradientManifestEntry, type GradientResult, type GradientSet,
} from './gradients.js';
export {
  decodeTrajectoryCase, decodeTrajectoryManifest, formatTrajectoryTable, runTrajectoryCase, trajectoryTolerance, TRAJECTORY_FORMAT, TRAJECTORY_REGENERATE_COMMAND, TRAJECTORY_VERSION,
  type OptimizerName, type TrajectoryCase, type TrajectoryManifest, type TrajectoryManifestEntry, type TrajectoryResult,
} from './trajectories.js';
