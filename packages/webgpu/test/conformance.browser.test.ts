import { browserConformanceSuite } from '@recurrent/conformance/vitest';

// Headless Chromium with --enable-unsafe-webgpu (SwiftShader without a GPU), the built entry bundled by Vite.
browserConformanceSuite({ name: 'webgpu', entry: new URL('../dist/index.js', import.meta.url) });
