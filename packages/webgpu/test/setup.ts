import { existsSync } from 'node:fs';

// No GPU here: let Dawn use the software Vulkan driver of Debian's chromium package unless the caller
// chose a driver (e.g. lavapipe) already.
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER)) {
  process.env.VK_ICD_FILENAMES = SWIFTSHADER;
}
