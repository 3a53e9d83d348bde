import { RnnError } from '@recurrent/core';
import type { ModelPlan } from '@recurrent/core';
import { GEMM_TILE, RECUR_WORKGROUP, UNIFORM_SLOT, persistentWorkgroupFloats, type CellShape } from './shaders.js';

/** The device limits this engine depends on (a GPUSupportedLimits has them all). */
export type DeviceLimits = Pick<
  GPUSupportedLimits,
  'maxStorageBufferBindingSize' | 'maxBufferSize' | 'maxComputeWorkgroupsPerDimension' | 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupStorageSize'
>;

interface Need {
  what: string;
  bytes: number;
  /** True for buffers bound as storage (bounded by maxStorageBufferBindingSize too). */
  bound: boolean;
}

const MiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * Checks sizes against the device before any GPU call, so an input too large for this device ends in
 * RnnError('limit') naming the buffer and both sizes, never in a WebGPU validation error.
 */
function checkBuffers(needs: Need[], limits: DeviceLimits): void {
  for (const { what, bytes, bound } of needs) {
    const limit = bound ? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) : limits.maxBufferSize;
    if (bytes > limit) {
      const name = bound && limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
      throw new RnnError('limit', `${what} needs ${bytes} bytes (${MiB(bytes)}), more than this GPU's ${name} of ${limit} bytes (${MiB(limit)})`, {
        buffer: what,
        bytes,
        limit,
        limitName: name,
      });
    }
  }
}

function checkWorkgroups(what: string, count: number, limits: DeviceLimits): void {
  if (count > limits.maxComputeWorkgroupsPerDimension) {
    throw new RnnError('limit', `${what} needs ${count} workgroups in one dimension, more than this GPU's maxComputeWorkgroupsPerDimension of ${limits.maxComputeWorkgroupsPerDimension}`, {
      dispatch: what,
      workgroups: count,
      limit: limits.maxComputeWorkgroupsPerDimension,
      limitName: 'maxComputeWorkgroupsPerDimension',
    });
  }
}

/** The sizes of a model that its buffers and dispatches depend on (a ModelPlan has them all). */
export type ModelSizes = Pick<ModelPlan, 'mode' | 'nonlinearity' | 'gates' | 'hiddenSize' | 'outputSize' | 'projSize' | 'numDirections' | 'numLayers'> & {
  layers: readonly { inputSize: number }[];
};

/** What every model needs whatever the input: the kernels' workgroups and the weights. */
export function checkModelLimits(model: ModelSizes, limits: DeviceLimits): void {
  // WebGPU guarantees 256 invocations and 16 KiB of workgroup memory; check anyway for odd adapters.
  if (limits.maxComputeInvocationsPerWorkgroup < 256 || limits.maxComputeWorkgroupStorageSize < 2 * GEMM_TILE * 16 * 4) {
    throw new RnnError('limit', `this GPU allows ${limits.maxComputeInvocationsPerWorkgroup} invocations and ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory per workgroup; the kernels need 256 and ${2 * GEMM_TILE * 16 * 4}`, {
      limitName: 'maxComputeInvocationsPerWorkgroup',
    });
  }
  const { gates: G, hiddenSize: H, outputSize: Hout, projSize: P, numDirections: D } = model;
  const rows = G === 1 ? `${H}` : `${G}·${H}`;
  const needs: Need[] = [];
  model.layers.forEach(({ inputSize }, layer) => {
    needs.push({ what: `weight_ih of layer ${layer} (${D}·${rows} × ${inputSize} floats)`, bytes: D * G * H * inputSize * 4, bound: true });
  });
  needs.push({ what: `weight_hh of each layer (${D} × ${rows} × ${Hout} floats)`, bytes: D * G * H * Hout * 4, bound: true });
  if (P > 0) needs.push({ what: `weight_hr of each layer (${D} × ${P} × ${H} floats)`, bytes: D * P * H * 4, bound: true });
  checkBuffers(needs, limits);
  checkWorkgroups(`the input projection over ${D * G * H} output features`, Math.ceil((D * G * H) / GEMM_TILE), limits);
  checkWorkgroups(`the recurrence over ${H} hidden units`, Math.ceil(H / RECUR_WORKGROUP), limits);
}

/** What one forward of L steps and N batch elements needs. */
export function checkForwardLimits(model: ModelSizes, L: number, N: number, limits: DeviceLimits): void {
  const { gates: G, hiddenSize: H, outputSize: Hout, numDirections: D, numLayers } = model;
  const inputSize = model.layers[0]!.inputSize;
  const rows = L * N;
  const cells = model.mode === 'lstm' ? numLayers * D * N * H : 0;
  checkBuffers(
    [
      { what: `the input (L=${L} × N=${N} × ${inputSize} floats)`, bytes: rows * inputSize * 4, bound: true },
      { what: `each layer's output (L=${L} × N=${N} × ${D * Hout} floats)`, bytes: rows * D * Hout * 4, bound: true },
      { what: `each layer's input projection (L=${L} × N=${N} × ${D * G * H} floats)`, bytes: rows * D * G * H * 4, bound: true },
      { what: `the read-back of output and states`, bytes: (rows * D * Hout + numLayers * D * N * Hout + cells) * 4, bound: false },
      { what: `the per-step uniforms (L=${L} × ${UNIFORM_SLOT} bytes)`, bytes: L * UNIFORM_SLOT, bound: false },
    ],
    limits,
  );
  checkWorkgroups(`the input projection over L·N = ${rows} rows`, Math.ceil(rows / GEMM_TILE), limits);
  checkWorkgroups(`the recurrence over N = ${N} batch elements`, N, limits);
}

/**
 * The persistent kernel keeps a sequence's states in workgroup memory; null when they fit, else the
 * RnnError('limit') that forcing it would be.
 */
export function persistentMisfit(shape: CellShape, limits: DeviceLimits): RnnError | null {
  const floats = persistentWorkgroupFloats(shape);
  if (floats * 4 <= limits.maxComputeWorkgroupStorageSize) return null;
  return new RnnError('limit', `the persistent recurrence kernel keeps ${floats} floats of state (${persistentStateParts(shape)}) in workgroup memory, more than this GPU's maxComputeWorkgroupStorageSize of ${limits.maxComputeWorkgroupStorageSize} bytes`, {
    limitName: 'maxComputeWorkgroupStorageSize',
    bytes: floats * 4,
    limit: limits.maxComputeWorkgroupStorageSize,
  });
}

function persistentStateParts(shape: CellShape): string {
  const parts = [`h twice: 2·${shape.outputSize}`];
  if (shape.mode === 'lstm') parts.push(`c: ${shape.hiddenSize}`);
  if (shape.projSize > 0) parts.push(`o ⊙ tanh(c): ${shape.hiddenSize}`);
  return parts.join(', ');
}
