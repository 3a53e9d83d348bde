import { existsSync } from 'node:fs';

// CI has no GPU: unless a Vulkan driver was chosen already, let Dawn use the SwiftShader driver that
// Debian's chromium package ships (scripts/setup.sh installs it).
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER)) process.env.VK_ICD_FILENAMES = SWIFTSHADER;
