import { parentPort } from 'node:worker_threads';
import { serveOrtWeb, type OrtLike, type ToWorker } from './ort.js';

// One onnxruntime-web instance per worker: see serveOrtWeb.
const port = parentPort!;
const handle = serveOrtWeb(async () => (await import('onnxruntime-web')) as unknown as OrtLike, undefined, (m) => port.postMessage(m));
port.on('message', (m: ToWorker) => void handle(m));
