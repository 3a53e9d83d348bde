// With @webgpu/types in the project, our GPU types are the full ones: a device of the user's own goes in,
// and the backend's device has every member.
import { createBackend } from '@recurrent/webgpu';

export async function shareDevice(): Promise<string> {
  const adapter = await navigator.gpu.requestAdapter();
  const device: GPUDevice = await adapter!.requestDevice();
  const backend = await createBackend({ device });
  backend.device.queue.submit([]);
  return backend.device.label;
}
