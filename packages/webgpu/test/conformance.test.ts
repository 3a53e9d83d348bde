import { conformanceSuite } from '@recurrent/conformance/vitest';
import { createBackend } from '../src/index.js';

// Node: Dawn on the Vulkan driver test/setup.ts picks (SwiftShader without a GPU). Every case on both
// recurrence kernels, each forced so that a case it cannot run fails instead of falling back.
conformanceSuite({ name: 'webgpu (persistent)', createBackend: () => createBackend({ recurrence: 'persistent' }) });
conformanceSuite({ name: 'webgpu (per-step)', createBackend: () => createBackend({ recurrence: 'per-step' }) });
