import { conformanceSuite } from '@recurrent/conformance/vitest';
import { createBackend } from '../src/index.js';

// Every build of the kernels: what createBackend() picks here (relaxed SIMD, vitest runs Node with the
// flag, and threads), relaxed SIMD on one thread, the plain SIMD build on one thread (what Node 20
// picks without the flag) and with two threads. Cases with N·G·H·H_out ≥ THREADED_WORK run threaded.
conformanceSuite({ name: 'wasm', createBackend });
conformanceSuite({ name: 'wasm-relaxed-simd, 1 thread', createBackend: () => createBackend({ relaxedSimd: true, threads: 1 }) });
conformanceSuite({ name: 'wasm-simd, 1 thread', createBackend: () => createBackend({ relaxedSimd: false, threads: 1 }) });
conformanceSuite({ name: 'wasm-simd, 2 threads', createBackend: () => createBackend({ relaxedSimd: false, threads: 2 }) });
