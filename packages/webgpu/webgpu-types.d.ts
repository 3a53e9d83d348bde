// The WebGPU types that @recurrent/webgpu's declarations name, as interfaces that merge with the real ones:
// a project with @webgpu/types (or a TypeScript whose DOM library has WebGPU) sees the full types; one
// without them (a Node project with lib ES20xx, say) still type-checks with skipLibCheck false. A GPU type
// newly named in a declaration belongs here too: tests/packaging's nodenext check fails until it is.
interface GPUDevice {}
interface GPUBuffer {}
interface GPUCommandBuffer {}
interface GPUError {}
interface GPUBindGroupLayout {}
interface GPUBindGroupLayoutEntry {}
interface GPUComputePipeline {}
interface GPUAdapterInfo {}
interface GPUDeviceLostInfo {}
interface GPUSupportedLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupStorageSize: number;
}
