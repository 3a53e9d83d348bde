// What a user meets where an engine cannot run: RnnError('unavailable') naming the runtime and what is missing.
import { createBackend as wasm } from '@recurrent/wasm';
import { createBackend as webgpu } from '@recurrent/webgpu';

const outcome = async (create) => create().then(() => null, (error) => ({ code: error.code, message: error.message }));
console.log(JSON.stringify({ relaxedSimd: await outcome(() => wasm({ relaxedSimd: true })), webgpu: await outcome(() => webgpu()) }));
process.exit(0);
