import { browserConformanceSuite } from '@recurrent/conformance/vitest';

browserConformanceSuite({ name: 'cpu', entry: new URL('../dist/index.js', import.meta.url) });
