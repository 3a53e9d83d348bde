export type {
  Backend,
  DirectionWeights,
  EngineModel,
  EngineResult,
  ForwardOptions,
  ForwardPlan,
  ForwardResult,
  LayerPlan,
  ModelPlan,
  Nonlinearity,
  Rnn,
  RnnConfig,
  StateDict,
  Tensor,
} from './types.js';
export { RnnError, isRnnError, type RnnErrorCode } from './errors.js';
export { createRnn } from './rnn.js';
export { resolveConfig, forwardFlops, type ResolvedConfig } from './config.js';
export { parameterShapes, planModel } from './weights.js';
export { planForward, checkTensor } from './forward.js';
export { readSafetensors, writeSafetensors } from './safetensors.js';
export { initStateDict, randomTensorData, seededRandom } from './init.js';
export { swapLeadingAxes } from './layout.js';
