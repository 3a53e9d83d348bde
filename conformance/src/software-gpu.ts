import { existsSync } from 'node:fs';

/**
 * The software Vulkan driver (SwiftShader) that Debian's chromium package ships: WebGPU in Node (Dawn),
 * Deno (wgpu) and Firefox runs on it on a machine without a GPU. scripts/setup.sh installs chromium.
 */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * The one place the repo's tools choose a Vulkan driver: the caller's `VK_ICD_FILENAMES` when set (a real
 * GPU's, a newer lavapipe), else SwiftShader when it is installed. Sets it in `env` (this process's by
 * default, before Dawn starts) and returns it, or undefined when neither exists (the system's drivers).
 *
 * Scripts use it through `node --import <conformance>/dist/use-software-gpu.js`, vitest through
 * `setupFiles`, runners of other runtimes by passing `env` to the child process.
 */
export function useSoftwareVulkanUnlessChosen(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return env.VK_ICD_FILENAMES;
}
