import { browserConformanceSuite } from '@recurrent/conformance/vitest';

// Headless Chromium with --enable-unsafe-webgpu (SwiftShader without a GPU), the built engine bundled by
// Vite; every case on both recurrence kernels (test/entries/ force one each).
browserConformanceSuite({ name: 'webgpu (persistent)', entry: new URL('./entries/persistent.ts', import.meta.url) });
browserConformanceSuite({ name: 'webgpu (per-step)', entry: new URL('./entries/per-step.ts', import.meta.url) });
