import { conformanceSuite } from '@recurrent/conformance/vitest';
import { createBackend } from '../src/index.js';

conformanceSuite({ name: 'wasm', createBackend });
