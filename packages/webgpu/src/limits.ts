import { RnnError } from '@recurrent/core';
import { GEMM_TILE, RECUR_WORKGROUP, UNIFORM_SLOT } from './shaders.js';

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

/** What every model needs whatever the input: the kernels' workgroups and the weights. */
export function checkModelLimits(H: number, D: number, layerInputSizes: number[], limits: DeviceLimits): void {
  // WebGPU guarantees 256 invocations and 16 KiB of workgroup memory; check anyway for odd adapters.
  if (limits.maxComputeInvocationsPerWorkgroup < 256 || limits.maxComputeWorkgroupStorageSize < 2 * GEMM_TILE * 16 * 4) {
    throw new RnnError('limit', `this GPU allows ${limits.maxComputeInvocationsPerWorkgroup} invocations and ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory per workgroup; the kernels need 256 and ${2 * GEMM_TILE * 16 * 4}`, {
      limitName: 'maxComputeInvocationsPerWorkgroup',
    });
  }
  const needs: Need[] = [];
  layerInputSizes.forEach((inputSize, layer) => {
    needs.push({ what: `weight_ih of layer ${layer} (${D}·${H} × ${inputSize} floats)`, bytes: D * H * inputSize * 4, bound: true });
  });
  needs.push({ what: `weight_hh of each layer (${D} × ${H} × ${H} floats)`, bytes: D * H * H * 4, bound: true });
  checkBuffers(needs, limits);
  checkWorkgroups(`the input projection over ${D * H} output features`, Math.ceil((D * H) / GEMM_TILE), limits);
  checkWorkgroups(`the recurrence over ${H} hidden units`, Math.ceil(H / RECUR_WORKGROUP), limits);
}

/** What one forward of L steps and N batch elements needs. */
export function checkForwardLimits(L: number, N: number, inputSize: number, H: number, D: number, numLayers: number, limits: DeviceLimits): void {
  const rows = L * N;
  checkBuffers(
    [
      { what: `the input (L=${L} × N=${N} × ${inputSize} floats)`, bytes: rows * inputSize * 4, bound: true },
      { what: `each layer's output (L=${L} × N=${N} × ${D * H} floats)`, bytes: rows * D * H * 4, bound: true },
      { what: `the read-back of output and h_n`, bytes: (rows * D * H + numLayers * D * N * H) * 4, bound: false },
      { what: `the per-step uniforms (L=${L} × ${UNIFORM_SLOT} bytes)`, bytes: L * UNIFORM_SLOT, bound: false },
    ],
    limits,
  );
  checkWorkgroups(`the input projection over L·N = ${rows} rows`, Math.ceil(rows / GEMM_TILE), limits);
  checkWorkgroups(`the recurrence over N = ${N} batch elements`, N, limits);
}
