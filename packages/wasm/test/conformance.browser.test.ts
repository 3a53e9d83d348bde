import { browserConformanceSuite } from '@recurrent/conformance/vitest';

browserConformanceSuite({ name: 'wasm', entry: new URL('../dist/index.js', import.meta.url) });
