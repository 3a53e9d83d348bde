import { conformanceSuite } from '@recurrent/conformance/vitest';
import { createBackend } from '../src/index.js';

// What createBackend() picks here (relaxed SIMD, vitest runs Node with the flag; threads), and the
// plain SIMD build on one thread, which Node 20 picks without the flag.
conformanceSuite({ name: 'wasm', createBackend });
conformanceSuite({ name: 'wasm-simd, 1 thread', createBackend: () => createBackend({ relaxedSimd: false, threads: 1 }) });
