// One onnxruntime-web instance per worker (see serveOrtWeb). ORT-web is loaded unbundled from /ort/
// (its own dist folder, served by browser-run.ts) so its WebAssembly threads find their files.
import { serveOrtWeb, type OrtLike, type ToWorker } from '../ort.js';

const ORT_URL = '/ort/ort.wasm.min.mjs';
const handle = serveOrtWeb(() => import(/* @vite-ignore */ ORT_URL) as Promise<OrtLike>, '/ort/', (m) => postMessage(m));
addEventListener('message', (e: MessageEvent<ToWorker>) => void handle(e.data));
