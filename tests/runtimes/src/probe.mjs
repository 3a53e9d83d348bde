// Run inside a runtime (node, deno, bun): which runtime it is, and what the WASM engine finds there, so
// the conformance table can say why a variant (threads, relaxed SIMD) is missing. Prints one JSON line.
const [wasmEntry] = (globalThis.Deno?.args ?? globalThis.process.argv.slice(2));

function runtimeName() {
  if (globalThis.Deno) return `Deno ${globalThis.Deno.version.deno} (V8 ${globalThis.Deno.version.v8})`;
  if (globalThis.Bun) return `Bun ${globalThis.Bun.version} (JavaScriptCore)`;
  return `Node ${globalThis.process.versions.node} (V8 ${globalThis.process.versions.v8})`;
}

const notes = [];
try {
  const wasm = await import(wasmEntry);
  const features = wasm.detectFeatures();
  if (!features.relaxedSimd) notes.push('@recurrent/wasm: no relaxed SIMD here (WebAssembly relaxed-simd not enabled): the plain SIMD kernels run');
  try {
    const threaded = await wasm.createBackend({ threads: 2 });
    threaded.dispose();
  } catch (error) {
    notes.push(`@recurrent/wasm: no worker threads here: ${error.message}`);
  }
} catch (error) {
  notes.push(`@recurrent/wasm: probe failed: ${error.message}`);
}
console.log(JSON.stringify({ runtime: runtimeName(), notes }));
// Deno and Bun keep running while a WebGPU/worker handle lives; this probe is done.
globalThis.process?.exit?.(0);
