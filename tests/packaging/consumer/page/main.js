// A web page that imports all three engines, as a bundler (Vite, webpack) user writes it.
import { createBackend as cpu } from '@recurrent/cpu';
import { createBackend as wasm } from '@recurrent/wasm';
import { createBackend as webgpu } from '@recurrent/webgpu';
import { compute } from '../compute.mjs';

compute({ cpu, wasm, webgpu }).then(
  (results) => (window.__results = results),
  (error) => (window.__results = { error: String(error && error.stack || error) }),
);
