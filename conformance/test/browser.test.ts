import { browserConformanceSuite } from '../src/vitest.js';

// The whole browser path (Vite bundle, COOP/COEP server, Debian's Chromium) on the test-only textbook engine.
browserConformanceSuite({ name: 'textbook', entry: new URL('./fixtures/engines/textbook/index.js', import.meta.url) });
