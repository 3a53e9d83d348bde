export type {
  Backend,
  BackwardPlan,
  DirectionWeights,
  EngineGradients,
  EngineModel,
  EngineResult,
  EngineStream,
  ForwardOptions,
  ForwardPlan,
  ForwardResult,
  Gradients,
  Gru,
  GruConfig,
  LayerPlan,
  Lstm,
  LstmConfig,
  LstmResult,
  Mode,
  ModelPlan,
  Nonlinearity,
  Rnn,
  RnnConfig,
  StateDict,
  Stream,
  StreamPlan,
  StreamStart,
  Tensor,
  UpstreamGradients,
} from './types.js';
export { RnnError, isRnnError, type RnnErrorCode } from './errors.js';
export { abortable, runInSlices, throwIfAborted, yieldToEventLoop } from './abort.js';
export { createRnn, createLstm, createGru } from './modules.js';
export { resolveConfig, forwardFlops, numDirections, outputSize, GATES, MODULE_NAMES, type ResolvedConfig } from './config.js';
export { namedParameters, parameterShapes, parameterSuffix, planModel } from './weights.js';
export { planForward, checkTensor, type InitialState } from './forward.js';
export { readSafetensors, writeSafetensors } from './safetensors.js';
export { initStateDict, randomTensorData, seededRandom } from './init.js';
export { swapLeadingAxes } from './layout.js';
export { resultArrays } from './results.js';
export { runtimeName } from './runtime.js';
export {
  createRnnCell, createLstmCell, createGruCell,
  type RnnCell, type LstmCell, type GruCell, type RnnCellConfig, type LstmCellConfig, type GruCellConfig, type CellOptions,
} from './cells.js';
export { readTorchStateDict, type TorchReadOptions } from './torch-pickle.js';
