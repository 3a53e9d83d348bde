import { createBackend as reference } from '@recurrent/cpu';
import { fuzzSuite } from '@recurrent/conformance/vitest';
import { createBackend } from '../src/index.js';

fuzzSuite({ name: 'wasm', createBackend, reference });
