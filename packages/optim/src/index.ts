export { Optimizer } from './optimizer.js';
export { SGD, type SgdOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions, type AdamState } from './adam.js';
export { clipGradNorm, type ClipOptions } from './clip.js';
export { f32, fma32 } from './float32.js';
