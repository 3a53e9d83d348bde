import { conformanceSuite } from '@recurrent/conformance/vitest';
import { createBackend } from '../src/index.js';

// Node: Dawn on the Vulkan driver test/setup.ts picks (SwiftShader without a GPU).
conformanceSuite({ name: 'webgpu', createBackend });
