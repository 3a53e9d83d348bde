// `node --import .../use-software-gpu.js` or a vitest setup file: the software Vulkan driver unless the
// caller chose one (see software-gpu.ts).
import { useSoftwareVulkanUnlessChosen } from './software-gpu.js';

useSoftwareVulkanUnlessChosen();
